//go:build fault

package fault

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// t0 is the origin of every timestamp of a run (operations, faults).
var t0 = time.Now()

// now returns the time since t0 in nanoseconds (monotonic).
func now() int64 { return int64(time.Since(t0)) }

type opKind uint8

const (
	opGet  opKind = iota // GET of a register
	opSet                // SET of a register to a unique value
	opOnce               // SET of a fresh key (write-once), read back at the end
)

type opStatus uint8

const (
	stOK      opStatus = iota
	stFailed           // an error reply or a broken connection
	stTimeout          // the per-operation timeout ran out
)

// op is one client operation as the client saw it.
type op struct {
	client    int
	kind      opKind
	key       string
	value     string // SET: the value written; GET: the value read ("" for nil)
	found     bool   // GET: the key existed
	call, ret int64  // invocation and response times (now())
	status    opStatus
	attempts  int32 // commands go-redis sent for it (its own retries and redirections)
	// ambiguous: an attempt may have reached the server and been applied
	// (see definite); a failed SET that is not ambiguous was not applied.
	ambiguous bool
	err       string
}

// workload is the load on one namespace: clients goroutines, each with a
// go-redis ClusterClient of its own, SET (a unique value) and GET registers
// (keys shared by every client), and SET write-once keys.
type workload struct {
	mode    string // "sync" or "async"
	ns      int
	prefix  string
	keys    []string // the registers
	clients []*redis.ClusterClient
	hist    [][]op // per client, in its order

	stopOnce sync.Once
	stopCh   chan struct{}
	wg       sync.WaitGroup
}

// Shares of the operations: write-once SETs, register SETs; the rest are GETs.
const (
	onceShare = 0.10
	setShare  = 0.45
)

// traceKey carries an operation's *trace to the node clients' hook.
type traceKey struct{}

// trace is what the node clients' hook saw of one operation's attempts.
type trace struct {
	attempts  atomic.Int32
	ambiguous atomic.Bool
}

// attemptHook counts the commands a node client sends for an operation, and
// notes an attempt that failed in a way that leaves open whether the server
// applied it.
type attemptHook struct{}

func (attemptHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (attemptHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (attemptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		tr, _ := ctx.Value(traceKey{}).(*trace)
		err := next(ctx, cmd)
		if tr != nil {
			tr.attempts.Add(1)
			if err != nil && !errors.Is(err, redis.Nil) && !definite(err) {
				tr.ambiguous.Store(true)
			}
		}
		return err
	}
}

// definite reports whether a failed attempt surely did nothing on the
// server: a connection that could not be made, or a routing refusal, which
// Redis Cluster servers (and Granary: internal/command/table.go) give before
// running the command. Any other error (a timeout, a connection lost after
// the command was sent, another error reply) leaves the outcome open.
func definite(err error) bool {
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Op == "dial" {
		return true
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		for _, p := range []string{"MOVED ", "ASK ", "TRYAGAIN ", "CLUSTERDOWN "} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
	}
	return false
}

// clientReload is FAULT_CLIENT_RELOAD: the clients' ClusterStateReloadInterval
// (0: go-redis' default, a minute).
var clientReload time.Duration

// newClient is a cluster client that learns the table from the config
// servers and works in namespace ns (SELECT on every new connection). Its
// retries, redirections and table refreshes are go-redis' defaults (but see
// clientReload); every wait is bounded by the operation's context.
func newClient(c *cluster, ns int, timeout time.Duration) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                      c.configRESP(),
		DialTimeout:                timeout,
		ReadTimeout:                timeout,
		WriteTimeout:               timeout,
		ContextTimeoutEnabled:      true,
		DisableIdentity:            true,
		ClusterStateReloadInterval: clientReload,
		OnConnect: func(ctx context.Context, cn *redis.Conn) error {
			return cn.Select(ctx, ns).Err()
		},
	})
	cc.OnNewNode(func(r *redis.Client) { r.AddHook(attemptHook{}) })
	return cc
}

// startWorkload starts k.clients clients on namespace mode's keys under prefix.
func startWorkload(c *cluster, k knobs, mode, prefix string) *workload {
	w := &workload{mode: mode, ns: int(c.ns[mode]), prefix: prefix, stopCh: make(chan struct{})}
	for i := 0; i < k.keys; i++ {
		w.keys = append(w.keys, prefix+":r"+strconv.Itoa(i))
	}
	w.hist = make([][]op, k.clients)
	for i := 0; i < k.clients; i++ {
		cc := newClient(c, w.ns, k.opTimeout)
		w.clients = append(w.clients, cc)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.run(i, cc, k.opTimeout, k.pause)
		}()
	}
	return w
}

func (w *workload) run(id int, cc *redis.ClusterClient, timeout, pause time.Duration) {
	rnd := mrand.New(mrand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	for seq := 0; ; seq++ {
		select {
		case <-w.stopCh:
			return
		default:
		}
		o := op{client: id}
		r := rnd.Float64()
		switch {
		case r < onceShare:
			o.kind, o.key = opOnce, fmt.Sprintf("%s:o:%d:%d", w.prefix, id, seq)
		case r < onceShare+setShare:
			o.kind, o.key = opSet, w.keys[rnd.IntN(len(w.keys))]
		default:
			o.kind, o.key = opGet, w.keys[rnd.IntN(len(w.keys))]
		}
		if o.kind != opGet {
			o.value = fmt.Sprintf("%s/%d.%d", w.mode, id, seq)
		}
		do(cc, &o, timeout)
		w.hist[id] = append(w.hist[id], o)
		time.Sleep(pause)
	}
}

// do runs one operation and records what the client saw.
func do(cc *redis.ClusterClient, o *op, timeout time.Duration) {
	var tr trace
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), traceKey{}, &tr), timeout)
	defer cancel()
	var err error
	o.call = now()
	if o.kind == opGet {
		var v string
		v, err = cc.Get(ctx, o.key).Result()
		if err == nil {
			o.value, o.found = v, true
		} else if errors.Is(err, redis.Nil) {
			err = nil
		}
	} else {
		err = cc.Set(ctx, o.key, o.value, 0).Err()
	}
	o.ret = now()
	o.attempts, o.ambiguous = tr.attempts.Load(), tr.ambiguous.Load()
	o.status = classify(err)
	if err != nil {
		o.err = err.Error()
	}
}

func classify(err error) opStatus {
	var ne net.Error
	switch {
	case err == nil:
		return stOK
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return stTimeout
	default:
		return stFailed
	}
}

// stop ends the clients' loops (once) and waits for them.
func (w *workload) stop() {
	w.stopOnce.Do(func() {
		close(w.stopCh)
		w.wg.Wait()
		for _, cc := range w.clients {
			cc.Close()
		}
	})
}

// ops returns every operation of every client.
func (w *workload) ops() []op {
	var out []op
	for _, h := range w.hist {
		out = append(out, h...)
	}
	return out
}

// finalReads reads every register once the cluster has healed, retrying
// each until it succeeds or until deadline; the successful reads are
// operations of one more client, so the checker sees them.
func (w *workload) finalReads(c *cluster, opTimeout time.Duration, deadline time.Time) ([]op, error) {
	cc := newClient(c, w.ns, opTimeout)
	defer cc.Close()
	var out []op
	for _, key := range w.keys {
		for {
			o := op{client: len(w.hist), kind: opGet, key: key}
			do(cc, &o, opTimeout)
			if o.status == stOK {
				out = append(out, o)
				break
			}
			if time.Now().After(deadline) {
				return out, fmt.Errorf("final read of %s: %s", key, o.err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out, nil
}

// readBack is the final state of every write-once key.
type readBack struct {
	value string
	found bool
}

// readOnce reads every write-once key back (acknowledged or not), retrying
// the ones that fail until deadline.
func (w *workload) readOnce(c *cluster, opTimeout time.Duration, deadline time.Time) (map[string]readBack, error) {
	var keys []string
	for _, o := range w.ops() {
		if o.kind == opOnce {
			keys = append(keys, o.key)
		}
	}
	cc := newClient(c, w.ns, opTimeout)
	defer cc.Close()
	got := make(map[string]readBack, len(keys))
	for len(keys) > 0 {
		var again []string
		var lastErr error
		for i := 0; i < len(keys); i += 200 {
			batch := keys[i:min(i+200, len(keys))]
			cmds := make([]*redis.StringCmd, len(batch))
			ctx, cancel := context.WithTimeout(context.Background(), 5*opTimeout)
			cc.Pipelined(ctx, func(p redis.Pipeliner) error {
				for j, k := range batch {
					cmds[j] = p.Get(ctx, k)
				}
				return nil
			})
			cancel()
			for j, cmd := range cmds {
				v, err := cmd.Result()
				switch {
				case err == nil:
					got[batch[j]] = readBack{value: v, found: true}
				case errors.Is(err, redis.Nil):
					got[batch[j]] = readBack{}
				default:
					again, lastErr = append(again, batch[j]), err
				}
			}
		}
		if len(again) > 0 && time.Now().After(deadline) {
			return got, fmt.Errorf("%d write-once keys could not be read back: %v", len(again), lastErr)
		}
		if len(again) > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		keys = again
	}
	return got, nil
}
