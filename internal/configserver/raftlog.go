package configserver

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// newRaftLogger returns an hclog logger for hashicorp/raft that writes into
// log: hclog emits JSON lines, which are turned back into slog records. Raft
// is chatty at info level, so only its warnings and errors pass.
func newRaftLogger(log *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        "raft",
		Level:       hclog.Warn,
		Output:      &slogWriter{log: log},
		JSONFormat:  true,
		DisableTime: true,
	})
}

// benign are warnings Raft logs in the normal course of things: the first
// election of a new group, a new member catching up.
var benign = map[string]bool{
	"heartbeat timeout reached, starting election":      true,
	"failed to get previous log":                        true,
	"appendEntries rejected, sending older logs":        true,
	"rejecting pre-vote request since we have a leader": true,
}

// slogWriter turns hclog's JSON lines into slog records.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			w.log.Warn(strings.TrimSpace(string(line)), "module", "raft")
			continue
		}
		level := slog.LevelInfo
		switch m["@level"] {
		case "trace", "debug":
			level = slog.LevelDebug
		case "warn":
			level = slog.LevelWarn
		case "error":
			level = slog.LevelError
		}
		msg, _ := m["@message"].(string)
		if benign[msg] && level > slog.LevelInfo {
			level = slog.LevelInfo
		}
		module, _ := m["@module"].(string)
		attrs := []slog.Attr{slog.String("module", module)}
		keys := make([]string, 0, len(m))
		for k := range m {
			if !strings.HasPrefix(k, "@") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			attrs = append(attrs, slog.Any(k, m[k]))
		}
		w.log.LogAttrs(context.Background(), level, "raft: "+msg, attrs...)
	}
	return len(p), nil
}
