//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	bulkfile "granary/internal/bulk"
)

// granaryCmd runs the granary binary and returns its combined output.
func granaryCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(granaryBin, args...).CombinedOutput()
	return string(out), err
}

// TestImportExport loads a CSV and a JSON-lines file into a disk namespace
// with granary import, checks every value, expiry and hash through GET,
// PEXPIRETIME and HGETALL (an existing key replaced, others kept), exports
// the namespace and reads the export back, and imports the export into a
// second server, which then holds the same items.
func TestImportExport(t *testing.T) {
	g := startGranary(t, granaryOpts{Disk: true})
	ctx := context.Background()
	dir := t.TempDir()
	c := redis.NewClient(&redis.Options{Addr: g.addr, DB: 2})
	defer c.Close()
	if err := c.Set(ctx, "k0", "before the import", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "untouched", "kept", 0).Err(); err != nil {
		t.Fatal(err)
	}

	const n = 3000
	expireAt := time.Now().Add(time.Hour).UnixMilli()
	var csv strings.Builder
	want := map[string]string{"untouched": "kept"}
	for i := range n {
		k, v := fmt.Sprintf("k%d", i), fmt.Sprintf("value %d", i)
		switch i % 3 {
		case 0:
			fmt.Fprintf(&csv, "%s,%s\n", k, v)
		case 1:
			v = fmt.Sprintf("quoted, %d \"x\"", i)
			fmt.Fprintf(&csv, "%s,\"%s\",%d\n", k, strings.ReplaceAll(v, `"`, `""`), expireAt)
		case 2:
			fmt.Fprintf(&csv, "%s,%s,%d\n", k, v, time.Now().Add(-time.Hour).UnixMilli()) // already expired: skipped
			continue
		}
		want[k] = v
	}
	csvPath := filepath.Join(dir, "in.csv")
	os.WriteFile(csvPath, []byte(csv.String()), 0o644)
	jsonPath := filepath.Join(dir, "in.jsonl")
	os.WriteFile(jsonPath, []byte(`{"key":"h1","hash":{"f1":"a","f2":"b"}}
{"key_base64":"/wBr","value_base64":"AAEC"}
`), 0o644)

	// A client caching k0 (CLIENT TRACKING, RESP3) is told that the import
	// changed it.
	tc := dialRaw(t, g.addr)
	defer tc.Close()
	for _, cmd := range [][]string{{"HELLO", "3"}, {"SELECT", "2"}, {"CLIENT", "TRACKING", "ON"}} {
		if r := tc.MustDo(t, cmd...); r.isErr() {
			t.Fatalf("%v: %s", cmd, r)
		}
	}
	if r := tc.MustDo(t, "GET", "k0"); r.str != "before the import" {
		t.Fatalf("GET k0 before the import: %s", r)
	}

	for _, f := range []string{csvPath, jsonPath} {
		out, err := granaryCmd(t, "import", "-q", "--addr", g.addr, "-n", "2", f)
		if err != nil {
			t.Fatalf("import %s: %v\n%s", f, err, out)
		}
		t.Logf("%s", strings.TrimSpace(out))
	}

	// The invalidation push is waiting on the tracking connection.
	tc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if r, err := tc.Read(); err != nil || r.kind != '>' || !strings.Contains(r.String(), "invalidate") {
		t.Fatalf("tracking connection after the import: %v %v, want an invalidation push", r, err)
	}

	for k, v := range want {
		got, err := c.Get(ctx, k).Result()
		if err != nil || got != v {
			t.Fatalf("GET %s: %q %v, want %q", k, got, err, v)
		}
	}
	for i := 1; i < n; i += 3 {
		k := fmt.Sprintf("k%d", i)
		if got := c.Do(ctx, "PEXPIRETIME", k).Val(); got != expireAt {
			t.Fatalf("PEXPIRETIME %s: %v, want %d", k, got, expireAt)
		}
	}
	if err := c.Get(ctx, "k2").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("an expired record was imported: %v", err)
	}
	if h := c.HGetAll(ctx, "h1").Val(); len(h) != 2 || h["f1"] != "a" || h["f2"] != "b" {
		t.Fatalf("HGETALL h1: %v", h)
	}
	if v := c.Get(ctx, "\xff\x00k").Val(); v != "\x00\x01\x02" {
		t.Fatalf("binary key: %q", v)
	}
	if size := c.DBSize(ctx).Val(); size != int64(len(want)+2) {
		t.Fatalf("DBSIZE %d, want %d", size, len(want)+2)
	}

	// Export, read back, import into a fresh server: the same items.
	exp := filepath.Join(dir, "out.jsonl")
	if out, err := granaryCmd(t, "export", "-q", "--addr", g.addr, "-n", "2", exp); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	f, err := os.Open(exp)
	if err != nil {
		t.Fatal(err)
	}
	rd, _ := bulkfile.NewReader(f, bulkfile.JSONL)
	seen := 0
	for {
		var rec bulkfile.Record
		err := rd.Next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen++
		if v, ok := want[string(rec.Key)]; ok && string(rec.Value) != v {
			t.Fatalf("export %s: %q, want %q", rec.Key, rec.Value, v)
		}
	}
	f.Close()
	if seen != len(want)+2 {
		t.Fatalf("export holds %d items, want %d", seen, len(want)+2)
	}

	g2 := startGranary(t, granaryOpts{Disk: true})
	if out, err := granaryCmd(t, "import", "-q", "--addr", g2.addr, "-n", "2", exp); err != nil {
		t.Fatalf("import of the export: %v\n%s", err, out)
	}
	c2 := redis.NewClient(&redis.Options{Addr: g2.addr, DB: 2})
	defer c2.Close()
	for k, v := range want {
		if got := c2.Get(ctx, k).Val(); got != v {
			t.Fatalf("restored GET %s: %q, want %q", k, got, v)
		}
	}
	if got := c2.Do(ctx, "PEXPIRETIME", "k1").Val(); got != expireAt {
		t.Fatalf("restored PEXPIRETIME k1: %v, want %d", got, expireAt)
	}
	if h := c2.HGetAll(ctx, "h1").Val(); h["f2"] != "b" {
		t.Fatalf("restored HGETALL h1: %v", h)
	}

	// A namespace on the mem engine refuses files, with a clear error.
	m := startGranary(t, granaryOpts{})
	out, err := granaryCmd(t, "import", "-q", "--addr", m.addr, csvPath)
	if err == nil || !strings.Contains(out, "disk engine") {
		t.Fatalf("import into a mem namespace: %v\n%s", err, out)
	}
}
