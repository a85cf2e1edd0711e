//go:build compose

// Command workload is the compose test's client. It runs in a container on
// the compose network (built static, in an image FROM the granary image), so
// that it reaches every data server at the address the cluster advertises
// (dataN:700N), as any client on that network would; the test on the host
// only starts and stops containers.
//
//	workload wait --config-servers cfg1:8198,... --up 3 --copies 2 --timeout 2m
//	    exits 0 once the cluster serves: a leader, exactly --up data servers
//	    up, every bucket's primary up with at least --copies replicas, every
//	    up data server holding the current table with no copy behind, and one
//	    GET per bucket answered by its primary.
//	workload load --seeds cfg1:5198,... --namespace 1 --workers 4
//	    SETs unique values and GETs them back through a go-redis
//	    ClusterClient until SIGTERM, then reads every acknowledged write back
//	    through a new ClusterClient and prints a JSON report on stdout, on a
//	    line starting with "REPORT ".
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: workload wait|load [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "wait":
		err = waitCmd(ctx, log, os.Args[2:])
	case "load":
		err = loadCmd(ctx, log, os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: want wait or load", os.Args[1])
	}
	if err != nil {
		log.Error("workload failed", "err", err)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// wait

func waitCmd(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	servers := fs.String("config-servers", "", "config servers' API addresses, comma-separated")
	up := fs.Int("up", 3, "data servers that must be up (exactly)")
	copies := fs.Int("copies", 2, "replicas every bucket must have at least")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	api := clusterapi.NewClient(splitList(*servers))
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var last string
	lastLog := time.Now()
	for {
		st, why := healthy(ctx, api, *up, *copies)
		if why == "" {
			log.Info("cluster healthy", "epoch", st.Epoch, "term", st.Term, "leader", st.Leader, "nodes", st.Nodes,
				"took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if why != last || time.Since(lastLog) > 5*time.Second {
			log.Info("waiting", "why", why, "after", time.Since(start).Round(time.Millisecond))
			last, lastLog = why, time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not healthy within %v: %s", *timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// healthy returns the status and "" when the cluster serves, else why not.
func healthy(ctx context.Context, api *clusterapi.Client, up, copies int) (*clusterapi.Status, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := api.Status(ctx)
	if err != nil {
		return nil, "status: " + err.Error()
	}
	switch {
	case st.Leader == "":
		return st, "no config leader"
	case st.Nodes[string(clusterapi.NodeUp)] != up:
		return st, fmt.Sprintf("data servers by state %v, want %d up", st.Nodes, up)
	case st.Epoch == 0 || st.Unassigned != 0:
		return st, fmt.Sprintf("table epoch %d, %d buckets unassigned", st.Epoch, st.Unassigned)
	}
	nodes, err := api.Nodes(ctx)
	if err != nil {
		return st, "nodes: " + err.Error()
	}
	byID := map[string]clusterapi.Node{}
	var live []clusterapi.Node
	for _, n := range nodes {
		byID[n.ID] = n
		if n.State == clusterapi.NodeUp {
			live = append(live, n)
		}
	}
	tb, err := api.Table(ctx)
	if err != nil {
		return st, "table: " + err.Error()
	}
	if tb.Epoch != st.Epoch {
		return st, fmt.Sprintf("table epoch %d, status epoch %d", tb.Epoch, st.Epoch)
	}
	var owners [routing.Buckets]string // primary's RESP address
	for _, r := range tb.Ranges {
		if len(r.Replicas) < copies {
			return st, fmt.Sprintf("buckets %d-%d have %d copies, want %d", r.First, r.Last, len(r.Replicas), copies)
		}
		p := byID[tb.Nodes[r.Replicas[0]]]
		if p.State != clusterapi.NodeUp {
			return st, fmt.Sprintf("buckets %d-%d: primary %s is %s", r.First, r.Last, p.ID, p.State)
		}
		for b := r.First; b <= r.Last; b++ {
			owners[b] = p.Addr
		}
	}
	for _, n := range live {
		info, err := clusterInfo(ctx, n.Addr)
		if err != nil {
			return st, n.Addr + ": CLUSTER INFO: " + err.Error()
		}
		if info["cluster_state"] != "ok" || info["cluster_current_epoch"] != strconv.FormatUint(st.Epoch, 10) {
			return st, fmt.Sprintf("%s: cluster_state %s, epoch %s, want ok and %d", n.Addr,
				info["cluster_state"], info["cluster_current_epoch"], st.Epoch)
		}
		behind, err := metric(ctx, n.HTTP, "granary_repl_secondaries_behind")
		if err != nil || behind != 0 {
			return st, fmt.Sprintf("%s: %v buckets behind (%v)", n.Addr, behind, err)
		}
	}
	// One GET per bucket, pipelined to its primary.
	keys := bucketKeys()
	for _, n := range live {
		rc := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1, PoolSize: 1,
			DialTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second})
		pipe := rc.Pipeline()
		for b, k := range keys {
			if owners[b] == n.Addr {
				pipe.Get(ctx, k)
			}
		}
		cmds, err := pipe.Exec(ctx)
		rc.Close()
		if err != nil && !errors.Is(err, redis.Nil) && len(cmds) == 0 {
			return st, n.Addr + ": " + err.Error()
		}
		for _, c := range cmds {
			if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
				return st, n.Addr + ": " + c.String()
			}
		}
	}
	return st, ""
}

func clusterInfo(ctx context.Context, addr string) (map[string]string, error) {
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, DialTimeout: 2 * time.Second})
	defer rc.Close()
	s, err := rc.ClusterInfo(ctx).Result()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}

// metric returns a metric without labels from a server's /metrics.
func metric(ctx context.Context, addr, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("metrics of %s: %w", addr, err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no metric %s at %s", name, addr)
}

// bucketKeys returns a key in every bucket.
var bucketKeys = sync.OnceValue(func() []string {
	keys := make([]string, routing.Buckets)
	left := routing.Buckets
	for i := 0; left > 0; i++ {
		k := "ready:" + strconv.Itoa(i)
		if b := routing.Bucket([]byte(k)); keys[b] == "" {
			keys[b] = k
			left--
		}
	}
	return keys
})

// ---------------------------------------------------------------------------
// load

// Report is what load prints when it ends; the test reads it.
type Report struct {
	Start, Stop  time.Time
	Ops          int      // SET+GET rounds tried
	OK           int      // rounds whose SET was acknowledged and GET read it back
	Errors       int      // rounds that failed (an error from SET or GET)
	Wrong        int      // GETs right after an acknowledged SET that read another value
	ErrorSamples []Sample // the first errors, and the last one
	FirstError   time.Time
	LastError    time.Time
	Seconds      []Second // per second of the run
	Acked        int      // acknowledged SETs
	Checked      int      // of them, read back at the end
	Lost         int      // acknowledged SETs that did not read back
	LostSamples  []string
}

// Sample is an error and when it happened.
type Sample struct {
	At  time.Time
	Err string
}

// Second counts the rounds that ended in one second of wall time.
type Second struct {
	Unix    int64
	OK, Err int
}

type loader struct {
	cc       *redis.ClusterClient
	mu       sync.Mutex
	rep      Report
	acked    map[string]string
	bySecond map[int64]*Second
}

func newClusterClient(seeds []string, ns int) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: seeds,
		// docs/replication.md: reload the table often, so that a client
		// that only ever tried a dead primary learns the new one.
		ClusterStateReloadInterval: 500 * time.Millisecond,
		DialTimeout:                2 * time.Second,
		ReadTimeout:                5 * time.Second,
		WriteTimeout:               5 * time.Second,
		OnConnect: func(ctx context.Context, cn *redis.Conn) error {
			return cn.Select(ctx, ns).Err()
		},
	})
}

func loadCmd(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	seeds := fs.String("seeds", "", "seed addresses of the ClusterClient (config servers' or data servers' RESP), comma-separated")
	ns := fs.Int("namespace", 0, "namespace (SELECT) the keys go to")
	workers := fs.Int("workers", 4, "concurrent SET+GET loops")
	pause := fs.Duration("pause", 2*time.Millisecond, "pause of each worker between rounds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	run := make([]byte, 4)
	rand.Read(run)
	prefix := "compose:" + hex.EncodeToString(run)
	l := &loader{cc: newClusterClient(splitList(*seeds), *ns), acked: map[string]string{}, bySecond: map[int64]*Second{}}
	defer l.cc.Close()
	l.rep.Start = time.Now()
	log.Info("load started", "seeds", *seeds, "namespace", *ns, "workers", *workers, "prefix", prefix)

	var wg sync.WaitGroup
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				l.round(ctx, prefix+":"+strconv.Itoa(w)+":"+strconv.Itoa(i))
				time.Sleep(*pause)
			}
		}()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
progress:
	for {
		select {
		case <-ctx.Done():
			break progress
		case <-tick.C:
			l.mu.Lock()
			log.Info("progress", "ops", l.rep.Ops, "ok", l.rep.OK, "errors", l.rep.Errors, "wrong", l.rep.Wrong, "acked", l.rep.Acked)
			l.mu.Unlock()
		}
	}
	wg.Wait()
	l.rep.Stop = time.Now()
	log.Info("load stopped; reading every acknowledged write back", "acked", len(l.acked))

	// A new client: it learns the table afresh.
	rc := newClusterClient(splitList(*seeds), *ns)
	defer rc.Close()
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.readBack(rctx, rc); err != nil {
		return err
	}
	for _, s := range l.bySecond {
		l.rep.Seconds = append(l.rep.Seconds, *s)
	}
	slices.SortFunc(l.rep.Seconds, func(a, b Second) int { return int(a.Unix - b.Unix) })
	out, err := json.Marshal(&l.rep)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Printf("REPORT %s\n", out)
	log.Info("done", "ops", l.rep.Ops, "errors", l.rep.Errors, "wrong", l.rep.Wrong, "acked", l.rep.Acked, "lost", l.rep.Lost)
	return nil
}

// round SETs key to a new value and GETs it back.
func (l *loader) round(ctx context.Context, key string) {
	b := make([]byte, 8)
	rand.Read(b)
	val := key + "=" + hex.EncodeToString(b)
	octx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ctx.Err() != nil {
		return
	}
	err := l.cc.Set(octx, key, val, 0).Err()
	acked := err == nil
	wrong := false
	if err != nil {
		err = fmt.Errorf("SET %s: %w", key, err)
	} else {
		var got string
		got, err = l.cc.Get(octx, key).Result()
		switch {
		case err != nil:
			err = fmt.Errorf("GET %s: %w", key, err)
		case got != val:
			wrong = true
			err = fmt.Errorf("GET %s right after its SET: %q, want %q", key, got, val)
		}
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rep.Ops++
	if acked {
		l.rep.Acked++
		l.acked[key] = val
	}
	s := l.bySecond[now.Unix()]
	if s == nil {
		s = &Second{Unix: now.Unix()}
		l.bySecond[now.Unix()] = s
	}
	if err == nil {
		l.rep.OK++
		s.OK++
		return
	}
	s.Err++
	l.rep.Errors++
	if wrong {
		l.rep.Wrong++
	}
	if l.rep.FirstError.IsZero() {
		l.rep.FirstError = now
	}
	l.rep.LastError = now
	sample := Sample{At: now, Err: err.Error()}
	if len(l.rep.ErrorSamples) < 20 {
		l.rep.ErrorSamples = append(l.rep.ErrorSamples, sample)
	} else {
		l.rep.ErrorSamples[len(l.rep.ErrorSamples)-1] = sample // keep the last one
	}
}

// readBack GETs every acknowledged key, 500 to a pipeline.
func (l *loader) readBack(ctx context.Context, rc *redis.ClusterClient) error {
	keys := make([]string, 0, len(l.acked))
	for k := range l.acked {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i := 0; i < len(keys); i += 500 {
		batch := keys[i:min(i+500, len(keys))]
		var cmds []*redis.StringCmd
		var err error
		// A pipeline that fails as a whole (a connection lost) is tried again.
		for attempt := 0; attempt < 5; attempt++ {
			cmds = cmds[:0]
			_, err = rc.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range batch {
					cmds = append(cmds, p.Get(ctx, k))
				}
				return nil
			})
			if err == nil || errors.Is(err, redis.Nil) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil && !errors.Is(err, redis.Nil) && ctx.Err() != nil {
			return fmt.Errorf("read-back: %w", err)
		}
		for j, c := range cmds {
			l.rep.Checked++
			if v, err := c.Result(); err != nil || v != l.acked[batch[j]] {
				l.rep.Lost++
				if len(l.rep.LostSamples) < 10 {
					l.rep.LostSamples = append(l.rep.LostSamples, fmt.Sprintf("%s: read %q, %v; want %q", batch[j], v, err, l.acked[batch[j]]))
				}
			}
		}
	}
	return nil
}
