package client

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// throttleScript answers the flow-control contract's reply, THROTTLED, to the
// first ARGV[1] calls counted in KEYS[1], and OK afterwards.
const throttleScript = `local n = redis.call('INCR', KEYS[1])
if n <= tonumber(ARGV[1]) then
  return redis.error_reply('THROTTLED namespace 0 is over its flow limit (100 ops/s)')
end
return 'OK'`

// startRedis runs redis-server (installed by make deps) on a free port; the
// reply a data server gives over its namespace's flow limit comes from a Lua
// script there, so the client meets it on a real connection.
func startRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server (make deps installs it): %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for start := time.Now(); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("redis-server on %s does not answer", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestThrottled: a call throttled by the server is retried with backoff
// until served, or fails with ErrThrottled after MaxAttempts, or when the
// caller's context ends.
func TestThrottled(t *testing.T) {
	addr := startRedis(t)
	quick := Backoff{Initial: time.Millisecond, Max: 4 * time.Millisecond, MaxAttempts: 6}
	for i, tc := range []struct {
		name      string
		backoff   Backoff
		throttled int           // replies before the call is served
		timeout   time.Duration // of the call's context
		want      error         // nil: served
		attempts  int
	}{
		{"served after 3", quick, 3, time.Minute, nil, 4},
		{"served at the last attempt", quick, 5, time.Minute, nil, 6},
		{"still throttled", quick, 100, time.Minute, ErrThrottled, 6},
		{"deadline while backing off", Backoff{Initial: time.Hour, Max: time.Hour}, 100, 50 * time.Millisecond, context.DeadlineExceeded, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ns := testNamespace(t, addr, 0, Options{Backoff: tc.backoff})
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			key := "calls:" + strconv.Itoa(i)
			attempts := 0
			err := ns.run(ctx, "Test", key, noResend, func(ctx context.Context, _ int) error {
				attempts++
				return ns.rc.Do(ctx, ns.rc.B().Eval().Script(throttleScript).Numkeys(1).Key(key).Arg(strconv.Itoa(tc.throttled)).Build()).Error()
			})
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("%v, want served", err)
			case tc.want != nil && (!errors.Is(err, tc.want) || !errors.Is(err, ErrThrottled)):
				t.Fatalf("%v, want %v and ErrThrottled", err, tc.want)
			}
			var re *rueidis.RedisError
			if err != nil && !errors.As(err, &re) {
				t.Errorf("%v does not carry the server's reply", err)
			}
			if attempts != tc.attempts {
				t.Errorf("%d attempts, want %d", attempts, tc.attempts)
			}
			st := c.Stats()
			if want := int64(min(attempts, tc.throttled)); st.Throttled != want || st.Retries != int64(attempts-1) {
				t.Errorf("Stats() = %+v, want %d throttled and %d retries", st, want, attempts-1)
			}
		})
	}
}
