package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"

	"granary/internal/dataserver"
)

func TestFlowFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		sets []string // successive Set calls (a repeated flag)
		want flowFlag
		bad  bool
	}{
		{name: "ops", sets: []string{"1:ops=5000"}, want: flowFlag{1: {Ops: 5000}}},
		{name: "both", sets: []string{"2:ops=100,bytes=1mb"}, want: flowFlag{2: {Ops: 100, Bytes: 1 << 20}}},
		{name: "bytes only", sets: []string{"0:bytes=64k"}, want: flowFlag{0: {Bytes: 64e3}}},
		{name: "repeated", sets: []string{"1:ops=10", "2:ops=20", "1:ops=30"}, want: flowFlag{1: {Ops: 30}, 2: {Ops: 20}}},
		{name: "yaml list", sets: []string{"[1:ops=10 3:bytes=1kb]"}, want: flowFlag{1: {Ops: 10}, 3: {Bytes: 1024}}},
		{name: "no limits", sets: []string{"1"}, bad: true},
		{name: "empty spec", sets: []string{"1:"}, bad: true},
		{name: "bad id", sets: []string{"70000:ops=1"}, bad: true},
		{name: "unknown key", sets: []string{"1:qps=1"}, bad: true},
		{name: "negative", sets: []string{"1:ops=-5"}, bad: true},
		{name: "not a number", sets: []string{"1:ops=many"}, bad: true},
		{name: "bad size", sets: []string{"1:bytes=lots"}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f flowFlag
			var err error
			for _, s := range tc.sets {
				if err = f.Set(s); err != nil {
					break
				}
			}
			if (err != nil) != tc.bad {
				t.Fatalf("Set(%q): err %v, want error %v", tc.sets, err, tc.bad)
			}
			if tc.bad {
				return
			}
			if len(f) != len(tc.want) {
				t.Fatalf("got %v, want %v", f, tc.want)
			}
			for id, l := range tc.want {
				if f[id] != l {
					t.Errorf("namespace %d: got %+v, want %+v", id, f[id], l)
				}
			}
		})
	}
}

// TestFlowFlagConfigFile reads --flow-limit from a config file's YAML list.
func TestFlowFlagConfigFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "data.yaml")
	if err := os.WriteFile(p, []byte("flow-limit:\n  - 1:ops=5000\n  - 2:ops=100,bytes=1mb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var f flowFlag
	fs := pflag.NewFlagSet("data", pflag.ContinueOnError)
	fs.Var(&f, "flow-limit", "")
	if err := applyConfigFile(fs, p); err != nil {
		t.Fatal(err)
	}
	want := map[uint16]dataserver.FlowLimit{1: {Ops: 5000}, 2: {Ops: 100, Bytes: 1 << 20}}
	if len(f) != len(want) || f[1] != want[1] || f[2] != want[2] {
		t.Fatalf("config file gave %v (%s), want %v", f, f.String(), want)
	}
}
