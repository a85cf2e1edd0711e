package client

import (
	"strings"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 10 * time.Millisecond, Max: time.Second, MaxAttempts: 5}.withDefaults()
	for _, tc := range []struct {
		attempt int
		ceiling time.Duration // the wait is in [ceiling/2, ceiling]
	}{
		{0, 10 * time.Millisecond},
		{1, 10 * time.Millisecond},
		{2, 20 * time.Millisecond},
		{5, 160 * time.Millisecond},
		{7, 640 * time.Millisecond},
		{8, time.Second},
		{63, time.Second},
		{1000, time.Second},
	} {
		for i := 0; i < 100; i++ {
			if d := b.delay(tc.attempt); d < tc.ceiling/2 || d > tc.ceiling {
				t.Fatalf("delay(%d) = %v, want within [%v, %v]", tc.attempt, d, tc.ceiling/2, tc.ceiling)
			}
		}
	}
}

func TestBackoffDefaults(t *testing.T) {
	for _, tc := range []struct {
		in, want Backoff
	}{
		{Backoff{}, Backoff{Initial: 5 * time.Millisecond, Max: time.Second, MaxAttempts: 30}},
		{Backoff{Initial: 2 * time.Second}, Backoff{Initial: 2 * time.Second, Max: 2 * time.Second, MaxAttempts: 30}},
		{Backoff{MaxAttempts: 1}, Backoff{Initial: 5 * time.Millisecond, Max: time.Second, MaxAttempts: 1}},
	} {
		if got := tc.in.withDefaults(); got != tc.want {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestCollect(t *testing.T) {
	for _, tc := range []struct {
		op   string
		opts []Option
		ok   bool
		args string // expiry arguments
	}{
		{"Put", nil, true, ""},
		{"Put", []Option{WithTTL(1500 * time.Microsecond)}, true, "PX 1"},
		{"Put", []Option{WithTTL(time.Minute)}, true, "PX 60000"},
		{"Put", []Option{WithExpireAt(time.UnixMilli(1700000000000))}, true, "PXAT 1700000000000"},
		{"Put", []Option{KeepTTL()}, true, "KEEPTTL"},
		{"Put", []Option{WithTTL(time.Minute), KeepTTL()}, false, ""},
		{"Put", []Option{WithTTL(-time.Second)}, false, ""},
		{"Put", []Option{IfAbsent(), IfExists()}, false, ""},
		{"Put", []Option{IfAbsent(), IfVersion(3)}, false, ""},
		{"Put", []Option{IfExists(), IfVersion(3)}, true, ""},
		{"Put", []Option{WithInitial(3)}, false, ""},
		{"Incr", []Option{WithInitial(3), WithMin(0), WithMax(10), WithTTL(time.Second)}, true, "PX 1000"},
		{"Incr", []Option{WithMin(10), WithMax(0)}, false, ""},
		{"Incr", []Option{IfAbsent()}, false, ""},
		{"Decr", []Option{KeepTTL()}, false, ""},
	} {
		o, err := collect(tc.op, tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("%s with %d options: %v, want ok %v", tc.op, len(tc.opts), err, tc.ok)
			continue
		}
		if got := strings.Join(o.expiryArgs(), " "); tc.ok && got != tc.args {
			t.Errorf("%s with %d options: expiry %q, want %q", tc.op, len(tc.opts), got, tc.args)
		}
	}
}
