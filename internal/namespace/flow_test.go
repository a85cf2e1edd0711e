package namespace_test

import (
	"sync"
	"testing"

	"granary/internal/engine"
	"granary/internal/engine/mem"
	"granary/internal/namespace"
)

const ms = int64(1e6) // ns

// TestLimiter drives limiters with an injected clock: each step asks for
// units at a time and says whether it must be admitted.
func TestLimiter(t *testing.T) {
	type step struct {
		at     int64 // ns
		units  int64
		charge bool // Charge instead of Allow
		want   bool
	}
	// n admits n requests of one unit at the same instant.
	n := func(k int, at int64, want bool) []step {
		out := make([]step, k)
		for i := range out {
			out[i] = step{at: at, units: 1, want: want}
		}
		return out
	}
	cat := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		rate  int64
		steps []step
	}{
		{
			// 1000/s: a burst of a tenth of a second is 100 ops, and one
			// more since the check is made before the charge.
			name:  "burst then refuse",
			rate:  1000,
			steps: cat(n(101, 0, true), n(3, 0, false)),
		},
		{
			name: "refill at the rate",
			rate: 1000,
			// After the burst, each millisecond frees one op.
			steps: cat(n(101, 0, true), n(1, 0, false), n(1, 1*ms, true), n(1, 1*ms, false),
				n(1, 2*ms, true), n(1, 2*ms, false)),
		},
		{
			name:  "idle time refills no more than the burst",
			rate:  1000,
			steps: cat(n(101, 0, true), n(101, 10_000*ms, true), n(1, 10_000*ms, false)),
		},
		{
			name: "refusals charge nothing",
			rate: 1000,
			// Thousands of refused retries do not push the next admission
			// further than one interval.
			steps: cat(n(101, 0, true), n(5000, 0, false), n(1, 1*ms, true)),
		},
		{
			name: "slow rate still admits one",
			rate: 2, // an op every 500 ms; the burst is one interval
			steps: cat(n(2, 0, true), n(1, 0, false), n(1, 499*ms, false), n(1, 500*ms, true),
				n(1, 500*ms, false)),
		},
		{
			name: "large request runs then is paid back",
			rate: 1000, // bytes/s
			steps: []step{
				{at: 0, units: 5000, want: true},       // 5 s of debt
				{at: 1000 * ms, units: 1, want: false}, // still owed
				{at: 4900 * ms, units: 1, want: true},  // within the burst of paid off
			},
		},
		{
			name: "charged reply bytes put it in debt",
			rate: 1000,
			steps: []step{
				{at: 0, units: 10, want: true},
				{at: 0, units: 2000, charge: true},
				{at: 1000 * ms, units: 10, want: false},
				{at: 1910 * ms, units: 10, want: true},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := namespace.NewLimiter(tc.rate)
			for i, s := range tc.steps {
				if s.charge {
					l.Charge(s.at, s.units)
					continue
				}
				if got := l.Allow(s.at, s.units); got != s.want {
					t.Fatalf("step %d (at %d ms, %d units): Allow = %v, want %v", i, s.at/ms, s.units, got, s.want)
				}
			}
		})
	}
}

// TestLimiterRate checks the admitted rate over a long simulated overload:
// requests arrive at 5 times the limit for 20 s.
func TestLimiterRate(t *testing.T) {
	for _, rate := range []int64{1, 7, 1000, 3333, 50_000} {
		l := namespace.NewLimiter(rate)
		const seconds = 20
		step := int64(1e9) / (rate * 5) // offered: 5 times the rate
		admitted := int64(0)
		for now := int64(0); now < seconds*1e9; now += max(step, 1) {
			if l.Allow(now, 1) {
				admitted++
			}
		}
		// The burst adds at most a tenth of a second's worth, and one op.
		lo, hi := rate*seconds, rate*seconds+rate/namespace.FlowBurst+2
		if admitted < lo-1 || admitted > hi {
			t.Errorf("rate %d/s over %d s: admitted %d, want %d..%d", rate, seconds, admitted, lo, hi)
		}
	}
}

// TestLimiterConcurrent runs Allow from many goroutines at one instant: no
// more than the burst may pass (run with -race).
func TestLimiterConcurrent(t *testing.T) {
	l := namespace.NewLimiter(10_000) // burst: 1000 ops, plus one
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := 0
			for i := 0; i < 1000; i++ {
				if l.Allow(0, 1) {
					k++
				}
			}
			mu.Lock()
			admitted += k
			mu.Unlock()
		}()
	}
	wg.Wait()
	if admitted != 1001 {
		t.Fatalf("admitted %d at one instant, want 1001", admitted)
	}
}

func TestFlow(t *testing.T) {
	for _, tc := range []struct {
		name           string
		ops, bytes     int64
		nilFlow        bool
		opsErr, bytErr string
	}{
		{name: "none", nilFlow: true},
		{name: "negative is none", ops: -1, bytes: -5, nilFlow: true},
		{name: "ops", ops: 500, opsErr: "THROTTLED namespace 3 is over its flow limit (500 ops/s)"},
		{name: "bytes", bytes: 1 << 20, bytErr: "THROTTLED namespace 3 is over its flow limit (1048576 bytes/s)"},
		{name: "both", ops: 10, bytes: 100,
			opsErr: "THROTTLED namespace 3 is over its flow limit (10 ops/s)",
			bytErr: "THROTTLED namespace 3 is over its flow limit (100 bytes/s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := namespace.NewFlow(3, tc.ops, tc.bytes)
			if (f == nil) != tc.nilFlow {
				t.Fatalf("NewFlow = %v, want nil %v", f, tc.nilFlow)
			}
			if f == nil {
				return
			}
			if f.OpsErr != tc.opsErr || f.BytesErr != tc.bytErr {
				t.Fatalf("errors %q, %q; want %q, %q", f.OpsErr, f.BytesErr, tc.opsErr, tc.bytErr)
			}
			// Spend well past both limits at one instant: the first
			// refusal names the limit that ran out.
			var got string
			for i := 0; i < 1_000_000 && got == ""; i++ {
				got = f.Admit(0, 10)
			}
			want := tc.opsErr
			if tc.ops == 0 {
				want = tc.bytErr
			}
			if got != want {
				t.Fatalf("refused with %q, want %q", got, want)
			}
		})
	}
}

func TestSetLimits(t *testing.T) {
	r := namespace.NewRegistry(func(uint16) engine.Engine { return mem.New(mem.Options{}) })
	defer r.Close()
	r.OnCreate(func(ns *namespace.Namespace) { ns.SetLimits(int64(ns.ID)*10, 0) })
	ns := r.Get(5)
	f := ns.Limits()
	if f == nil || f.MaxOps != 50 {
		t.Fatalf("OnCreate: limits %+v, want 50 ops/s", f)
	}
	ns.SetLimits(50, 0)
	if ns.Limits() != f {
		t.Fatal("setting the same limits replaced them (and refilled the bucket)")
	}
	ns.SetLimits(50, 1000)
	if g := ns.Limits(); g == f || g.MaxBytes != 1000 || g.MaxOps != 50 {
		t.Fatalf("new limits %+v, want 50 ops/s and 1000 bytes/s", g)
	}
	ns.SetLimits(0, 0)
	if ns.Limits() != nil {
		t.Fatal("limits of 0 left a Flow behind")
	}
	if r.Get(0).Limits() != nil {
		t.Fatal("namespace 0 got limits of 0 ops/s")
	}
}
