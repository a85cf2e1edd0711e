package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/rueidis"
)

// Errors returned by the client. Test them with errors.Is: the errors the
// client returns wrap one of these together with the server's reply or the
// network error behind it.
var (
	// ErrNotFound: the key (or the field of a prefix key) does not exist.
	ErrNotFound = errors.New("granary: not found")
	// ErrExists: Put with IfAbsent found the key already there.
	ErrExists = errors.New("granary: key exists")
	// ErrVersionMismatch: the key's version is not the one the call expected
	// (Put with IfVersion, CompareAndSwap, DeleteIfVersion).
	ErrVersionMismatch = errors.New("granary: version mismatch")
	// ErrOutOfRange: a counter would leave its bounds (WithMin, WithMax) or
	// the int64 range; the counter is unchanged.
	ErrOutOfRange = errors.New("granary: counter out of range")
	// ErrThrottled: the namespace is over its flow limit on the data server,
	// and still was after the client backed off Options.Backoff.MaxAttempts
	// times (the server refuses the request without running it).
	ErrThrottled = errors.New("granary: throttled")
	// ErrWrongType: the key holds another type (a prefix key read as a
	// string, or the other way round).
	ErrWrongType = errors.New("granary: wrong type")
	// ErrNotInteger: a counter operation met a value that is not an integer.
	ErrNotInteger = errors.New("granary: value is not an integer")
	// ErrLocked: TryLock found the lock held by someone else.
	ErrLocked = errors.New("granary: locked")
	// ErrLockLost: Unlock found the lock no longer held with its token: its
	// time to live ran out (and someone else may hold it now).
	ErrLockLost = errors.New("granary: lock lost")
	// ErrUncertain: the connection failed after the request was sent, so it
	// may or may not have been applied. Only calls whose repetition could
	// change the result twice (Incr, Decr) return it; the others retry.
	ErrUncertain = errors.New("granary: outcome unknown")
	// ErrUnavailable: the bucket had no serving primary (TRYAGAIN,
	// CLUSTERDOWN) or its data server could not be reached, and still after
	// Options.Backoff.MaxAttempts tries.
	ErrUnavailable = errors.New("granary: unavailable")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("granary: client closed")
)

// Error is an error of one call: the operation, its key, and the cause. It
// matches (errors.Is) one of the Err values when the cause is known, and
// unwraps to the server's reply (a *rueidis.RedisError) or the network error.
type Error struct {
	Op    string // the call: "Get", "Put", ...
	Key   string // the key, "" for calls of several keys
	Kind  error  // one of the Err values, or nil
	Cause error  // the server's reply or the network error, or nil
}

// Error renders the operation, the key, the kind and the cause.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("granary: ")
	b.WriteString(e.Op)
	if e.Key != "" {
		fmt.Fprintf(&b, " %q", e.Key)
	}
	switch {
	case e.Kind != nil && e.Cause != nil:
		fmt.Fprintf(&b, ": %s: %v", strings.TrimPrefix(e.Kind.Error(), "granary: "), e.Cause)
	case e.Kind != nil:
		b.WriteString(": " + strings.TrimPrefix(e.Kind.Error(), "granary: "))
	case e.Cause != nil:
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	return b.String()
}

// Unwrap returns the kind and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Cause != nil {
		out = append(out, e.Cause)
	}
	return out
}

// class says what a failed attempt means for the next one.
type class int

const (
	classFinal     class = iota // a reply: return it
	classThrottled              // THROTTLED: not run; back off and retry
	classNotServed              // TRYAGAIN, CLUSTERDOWN, LOADING, MOVED, ASK: not run; retry
	classNetwork                // the connection failed: run or not, unknown
	classContext                // the caller's context ended
)

// classify sorts an attempt's error. ctx is the caller's context.
func classify(ctx context.Context, err error) class {
	if err == nil || rueidis.IsRedisNil(err) {
		return classFinal
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		msg := re.Error()
		switch {
		case strings.HasPrefix(msg, "THROTTLED"):
			return classThrottled
		case re.IsTryAgain(), re.IsClusterDown(), re.IsLoading():
			return classNotServed
		}
		if _, moved := re.IsMoved(); moved {
			return classNotServed
		}
		if _, ask := re.IsAsk(); ask {
			return classNotServed
		}
		return classFinal
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return classContext
	}
	if transportError(err) {
		return classNetwork
	}
	return classFinal
}

// transportError reports whether err is a failure of the connection (or of
// finding one), not a reply.
func transportError(err error) bool {
	var ne net.Error
	var errno syscall.Errno
	return errors.As(err, &ne) || errors.As(err, &errno) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, rueidis.ErrNoSlot) || errors.Is(err, rueidis.ErrDoCacheAborted) ||
		errors.Is(err, rueidis.ErrClosing)
}

// replyKind maps a server error reply to one of the Err values (nil when
// none fits).
func replyKind(err error) error {
	re, ok := rueidis.IsRedisErr(err)
	if !ok {
		if errors.Is(err, rueidis.ErrClosing) {
			return ErrClosed
		}
		return nil
	}
	// rueidis drops the "ERR " of error replies.
	msg := strings.TrimPrefix(re.Error(), "ERR ")
	switch {
	case strings.HasPrefix(msg, "THROTTLED"):
		return ErrThrottled
	case strings.HasPrefix(msg, "WRONGTYPE"):
		return ErrWrongType
	case strings.HasPrefix(msg, "update version is stale"):
		return ErrVersionMismatch
	case strings.HasPrefix(msg, "increment or decrement would overflow"):
		return ErrOutOfRange
	case strings.HasPrefix(msg, "value is not an integer"):
		return ErrNotInteger
	case re.IsTryAgain(), re.IsClusterDown(), re.IsLoading():
		return ErrUnavailable
	}
	return nil
}
