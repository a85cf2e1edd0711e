//go:build fault

package fault

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

// TestChecker checks the checker on small hand-made histories, without a
// cluster: what must pass passes and what must not does not.
func TestChecker(t *testing.T) {
	set := func(client int, v string, call, ret int64, st opStatus, ambiguous bool) op {
		return op{client: client, kind: opSet, key: "k", value: v, call: call, ret: ret, status: st, ambiguous: ambiguous}
	}
	get := func(client int, v string, call, ret int64) op {
		return op{client: client, kind: opGet, key: "k", value: v, found: v != "", call: call, ret: ret}
	}
	failedGet := op{client: 2, kind: opGet, key: "k", call: 5, ret: 6, status: stFailed}
	cases := []struct {
		name string
		ops  []op
		want porcupine.CheckResult
	}{
		{"read your write", []op{set(0, "a", 0, 1, stOK, false), get(1, "a", 2, 3)}, porcupine.Ok},
		{"nil before any write", []op{get(1, "", 0, 1), set(0, "a", 2, 3, stOK, false)}, porcupine.Ok},
		{"lost write", []op{set(0, "a", 0, 1, stOK, false), get(1, "", 2, 3)}, porcupine.Illegal},
		{"stale read", []op{set(0, "a", 0, 1, stOK, false), set(0, "b", 2, 3, stOK, false), get(1, "a", 4, 5)}, porcupine.Illegal},
		{"concurrent writes either order", []op{set(0, "a", 0, 10, stOK, false), set(1, "b", 1, 9, stOK, false),
			get(2, "a", 11, 12)}, porcupine.Ok},
		{"timed-out write applied late", []op{set(0, "a", 0, 1, stTimeout, true), get(1, "", 2, 3), get(1, "a", 4, 5)}, porcupine.Ok},
		{"timed-out write never applied", []op{set(0, "a", 0, 1, stTimeout, true), get(1, "", 2, 3)}, porcupine.Ok},
		{"refused write applied", []op{set(0, "a", 0, 1, stFailed, false), get(1, "a", 2, 3)}, porcupine.Illegal},
		{"failed read dropped", []op{set(0, "a", 0, 1, stOK, false), failedGet, get(1, "a", 7, 8)}, porcupine.Ok},
		{"value flips back", []op{set(0, "a", 0, 1, stOK, false), get(1, "a", 2, 3), set(0, "b", 4, 5, stOK, false),
			get(1, "b", 6, 7), get(1, "a", 8, 9)}, porcupine.Illegal},
	}
	for _, c := range cases {
		r := checkLinearizable(history(c.ops), 0)
		if r.result != c.want {
			t.Errorf("%s: %s, want %s", c.name, r.result, c.want)
		}
	}

	// Lost write-once keys.
	ops := []op{
		{kind: opOnce, key: "o1", value: "v1", status: stOK},
		{kind: opOnce, key: "o2", value: "v2", status: stOK},
		{kind: opOnce, key: "o3", value: "v3", status: stOK},
		{kind: opOnce, key: "o4", value: "v4", status: stTimeout, ambiguous: true},
		{kind: opOnce, key: "o5", value: "v5", status: stFailed},
	}
	got := map[string]readBack{"o1": {"v1", true}, "o2": {}, "o4": {"v4", true}, "o5": {"v5", true}}
	acked, lost, unread, ghosts, bad, _ := lostWrites(ops, got)
	if acked != 3 || lost != 1 || unread != 1 || ghosts != 2 || bad != 1 {
		t.Errorf("lostWrites: acked %d lost %d unread %d ghosts %d refused-but-applied %d; want 3 1 1 2 1", acked, lost, unread, ghosts, bad)
	}
}
