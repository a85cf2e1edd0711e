package client

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"granary/internal/dataserver"
)

// TestErrorKinds checks that the server's error replies come back as the
// client's error kinds, with the reply kept as the cause.
func TestErrorKinds(t *testing.T) {
	addr, _ := startServer(t, dataserver.Options{})
	_, ns := testNamespace(t, addr, 0, Options{})
	ctx := context.Background()
	if _, err := ns.Put(ctx, "str", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := ns.PrefixPut(ctx, "hash", "f", []byte("1")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		call  func() error
		kind  error
		cause string // in the message: the server's reply
	}{
		{"stale version", func() error { _, err := ns.Put(ctx, "str", []byte("x"), IfVersion(7)); return err }, ErrVersionMismatch, "version is stale"},
		{"counter past max", func() error { _, err := ns.Incr(ctx, "ctr", 5, WithMax(3)); return err }, ErrOutOfRange, "overflow"},
		{"int64 overflow", func() error {
			if _, err := ns.Incr(ctx, "big", 1<<62); err != nil {
				return err
			}
			_, err := ns.Incr(ctx, "big", 1<<62)
			return err
		}, ErrOutOfRange, "overflow"},
		{"not an integer", func() error { _, err := ns.Incr(ctx, "str", 1); return err }, ErrNotInteger, "not an integer"},
		{"wrong type", func() error { _, err := ns.Get(ctx, "hash"); return err }, ErrWrongType, "WRONGTYPE"},
		{"missing", func() error { _, err := ns.Get(ctx, "none"); return err }, ErrNotFound, ""},
		{"bad options", func() error { _, err := ns.Put(ctx, "k", nil, WithTTL(time.Second), KeepTTL()); return err }, nil, "exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v: not an *Error", err)
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("%v: not %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.cause) {
				t.Errorf("%q does not tell %q", err, tc.cause)
			}
		})
	}
}

// TestUnreachable: calls to a data server that went away are retried within
// Backoff, then fail with ErrUnavailable; a connection refused is known not
// to have carried the request, so even Incr is retried.
func TestUnreachable(t *testing.T) {
	addr, ds := startServer(t, dataserver.Options{})
	c, ns := testNamespace(t, addr, 0, Options{Backoff: Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond, MaxAttempts: 3}})
	ctx := context.Background()
	// Backing off for an hour: the caller's deadline ends the waiting.
	_, slow := testNamespace(t, addr, 1, Options{Backoff: Backoff{Initial: time.Hour, Max: time.Hour}})
	if _, err := ns.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	ds.Close()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := ns.Get(ctx, "k"); return err }},
		{"Incr", func() error { _, err := ns.Incr(ctx, "n", 1); return err }},
		{"MGet", func() error { _, err := ns.MGet(ctx, "a", "b", "c"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.Stats().Retries
			err := tc.call()
			if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrUncertain) {
				t.Fatalf("%v: want ErrUnavailable", err)
			}
			if got := c.Stats().Retries - before; got < 2 {
				t.Errorf("%d retries, want at least 2 (MaxAttempts 3)", got)
			}
		})
	}
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := slow.Get(ctx, "k")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get with a deadline, backing off for an hour: %v, want the deadline", err)
	}
}

func TestClassify(t *testing.T) {
	ctx := context.Background()
	done, cancel := context.WithCancel(ctx)
	cancel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	for _, tc := range []struct {
		name      string
		ctx       context.Context
		err       error
		want      class
		neverSent bool
	}{
		{"nil", ctx, nil, classFinal, false},
		{"dial refused", ctx, refused, classNetwork, true},
		{"reset", ctx, reset, classNetwork, false},
		{"context ended", done, reset, classContext, false},
		{"deadline", ctx, context.DeadlineExceeded, classContext, false},
		{"a decoding error", ctx, errReply("EXGET"), classFinal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.ctx, tc.err); got != tc.want {
				t.Errorf("classify = %d, want %d", got, tc.want)
			}
			if got := neverSent(tc.err); got != tc.neverSent {
				t.Errorf("neverSent = %v, want %v", got, tc.neverSent)
			}
		})
	}
}
