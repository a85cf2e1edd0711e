package command_test

import (
	"strings"
	"testing"

	"granary/internal/dataserver"
)

// TestDigestCommandErrors: the anti-entropy commands answer bad input with
// an ERR reply, need replication (a cluster's data server: their happy path
// is tested in test/cluster), and the test-only GRANARY.DEBUG-SETLOCAL is
// refused unless the server runs with --enable-debug-commands.
func TestDigestCommandErrors(t *testing.T) {
	debug := newTestServerWith(t, func(o *dataserver.Options) { o.DebugCommands = true })
	plain := newTestServer(t)
	for _, tc := range []struct {
		addr string
		args []any
		want string
	}{
		{plain, []any{"GRANARY.DIGEST", "0", "*"}, "ERR wrong number of arguments"},
		{plain, []any{"GRANARY.DIGEST", "soon", "*", "1"}, "ERR invalid cutoff"},
		{plain, []any{"GRANARY.DIGEST", "-5", "*", "1"}, "ERR invalid cutoff"},
		{plain, []any{"GRANARY.DIGEST", "0", "65536", "1"}, "ERR invalid namespace"},
		{plain, []any{"GRANARY.DIGEST", "0", "ns", "1"}, "ERR invalid namespace"},
		{plain, []any{"GRANARY.DIGEST", "0", "*", "16384"}, "ERR invalid bucket '16384'"},
		{plain, []any{"GRANARY.DIGEST", "0", "*", "1", "-1"}, "ERR invalid bucket '-1'"},
		{plain, []any{"GRANARY.DIGEST", "0", "*", "1"}, "ERR replication is off"},
		{plain, []any{"GRANARY.DIGESTKEYS", "0", "*", "1", "2"}, "ERR wrong number of arguments"},
		{plain, []any{"GRANARY.DIGESTKEYS", "x", "*", "1"}, "ERR invalid cutoff"},
		{plain, []any{"GRANARY.DIGESTKEYS", "0", "-1", "1"}, "ERR invalid namespace"},
		{plain, []any{"GRANARY.DIGESTKEYS", "0", "*", "99999"}, "ERR invalid bucket '99999'"},
		{plain, []any{"GRANARY.DIGESTKEYS", "0", "3", "1"}, "ERR replication is off"},
		{plain, []any{"GRANARY.RESYNC", "node"}, "ERR wrong number of arguments"},
		{plain, []any{"GRANARY.RESYNC", "node", "x"}, "ERR invalid bucket 'x'"},
		{plain, []any{"GRANARY.RESYNC", "node", "5"}, "ERR replication is off"},
		{plain, []any{"GRANARY.DEBUG-SETLOCAL", "k", "v"}, "ERR GRANARY.DEBUG-SETLOCAL is disabled"},
		{debug, []any{"GRANARY.DEBUG-SETLOCAL", "k", "v"}, "ERR replication is off"},
	} {
		err := dial(t, tc.addr).Do(ctx, tc.args...).Err()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
