//go:build fault

package fault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// Every process has a loopback address of its own, in a /24 of 127/8 picked
// per run (127.0.N.0/24): config servers at .11-.13, data servers at
// .21-.23, on Granary's default ports. So iptables rules on addresses cut one
// data server off from the others without touching the clients (which
// connect from 127.0.0.1), and two runs on one machine do not meet.
const (
	configServers = 3
	dataServers   = 3
	copies        = 2
	configRESP    = 5198
	configHTTP    = 8198
	configRaft    = 5199
	dataRESP      = 5191
	dataHTTP      = 8191
)

type configServer struct {
	*proc
	id, ip, dir      string
	raft, http, resp string
}

type dataServer struct {
	*proc
	ip, dir    string
	addr, http string // RESP (advertised), metrics
}

// cluster is a running Granary cluster.
type cluster struct {
	dir    string // the run's directory: logs, data, visualizations
	subnet string // "127.0.N."
	cfg    []*configServer
	data   []*dataServer
	// ns maps an ack mode ("sync", "async") to its namespace.
	ns map[string]uint16
	// broken is set when the cluster did not heal after a fault: the next
	// fault kind runs on a new cluster.
	broken error
}

// pickSubnet picks a 127.0.N.0/24 whose planned addresses are free.
func pickSubnet(t *testing.T) string {
	t.Helper()
	for tries := 0; tries < 50; tries++ {
		s := "127.0." + strconv.Itoa(2+mrand.IntN(248)) + "."
		var lns []net.Listener
		ok := true
		for _, a := range plannedAddrs(s) {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return s
		}
	}
	t.Fatal("no free 127.0.N.0/24 for the cluster's addresses")
	return ""
}

func plannedAddrs(subnet string) []string {
	var out []string
	for i := 1; i <= configServers; i++ {
		ip := subnet + strconv.Itoa(10+i)
		out = append(out, hostPort(ip, configRESP), hostPort(ip, configHTTP), hostPort(ip, configRaft))
	}
	for i := 1; i <= dataServers; i++ {
		ip := subnet + strconv.Itoa(20+i)
		out = append(out, hostPort(ip, dataRESP), hostPort(ip, dataHTTP))
	}
	return out
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// startCluster starts three config servers and three data servers in dir,
// creates a namespace per ack mode and waits until the cluster is healthy.
// Every process is stopped when the test ends; when it failed, the end of
// every log is printed.
func startCluster(t *testing.T, k knobs, dir, subnet string) *cluster {
	t.Helper()
	c := &cluster{dir: dir, subnet: subnet, ns: map[string]uint16{}}
	secret := randHex(16)
	var peers, https []string
	for i := 1; i <= configServers; i++ {
		ip := subnet + strconv.Itoa(10+i)
		cs := &configServer{id: "cs" + strconv.Itoa(i), ip: ip, raft: hostPort(ip, configRaft),
			http: hostPort(ip, configHTTP), resp: hostPort(ip, configRESP)}
		cs.dir = filepath.Join(dir, cs.id)
		peers = append(peers, cs.id+"="+cs.raft)
		https = append(https, cs.http)
		c.cfg = append(c.cfg, cs)
	}
	for _, cs := range c.cfg {
		args := []string{"config", "--id", cs.id, "--peers", strings.Join(peers, ","), "--raft", cs.raft,
			"--http", cs.http, "--listen", cs.resp, "--dir", cs.dir, "--copies", strconv.Itoa(copies),
			"--min-nodes", strconv.Itoa(dataServers), "--auto-add"}
		if configSecret {
			args = append(args, "--cluster-secret", secret)
		}
		cs.proc = newProc(cs.id, filepath.Join(dir, cs.id+".log"), httpReady(cs.http), args...)
	}
	for i := 1; i <= dataServers; i++ {
		ip := subnet + strconv.Itoa(20+i)
		ds := &dataServer{ip: ip, addr: hostPort(ip, dataRESP), http: hostPort(ip, dataHTTP)}
		name := "ds" + strconv.Itoa(i)
		ds.dir = filepath.Join(dir, name)
		args := []string{"data", "--config-servers", strings.Join(https, ","), "--dir", ds.dir,
			"--listen", ds.addr, "--http", ds.http, "--advertise", ds.addr, "--zone", "z" + strconv.Itoa(i)}
		if dataFlags.sourceAddr {
			args = append(args, "--source-addr", ip)
		}
		if dataFlags.lease && k.lease > 0 {
			args = append(args, "--lease", k.lease.String())
		}
		if dataFlags.clusterSecret {
			args = append(args, "--cluster-secret", secret)
		}
		ds.proc = newProc(name, filepath.Join(dir, name+".log"), pingReady(ds.addr), args...)
		c.data = append(c.data, ds)
	}
	t.Cleanup(func() {
		for _, p := range c.procs() {
			if err := p.died(); err != nil {
				t.Errorf("at the end: %v", err)
			}
		}
		c.shutdown()
		if t.Failed() {
			for _, p := range c.procs() {
				if p.starts > 0 {
					t.Logf("%s: last lines of %s:\n%s", p.name, p.logPath, tailFile(p.logPath, 12))
				}
			}
		}
	})

	// A member of three waits for its peers: start them together.
	var wg sync.WaitGroup
	errs := make([]error, len(c.cfg))
	for i, cs := range c.cfg {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = cs.start(30 * time.Second) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.waitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, ds := range c.data {
		if err := ds.start(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for i, mode := range k.namespaces {
		id := uint16(i + 1)
		if out, err := c.ctl("namespace", "create", strconv.Itoa(int(id)), "--name", "fault-"+mode, "--ack", mode, "--engine", k.engine); err != nil {
			t.Fatalf("creating the %s namespace: %v\n%s", mode, err, out)
		}
		c.ns[mode] = id
	}
	if err := c.waitHealthy(k.heal); err != nil {
		t.Fatalf("the new cluster: %v", err)
	}
	return c
}

// shutdown stops every process (again: no-op).
func (c *cluster) shutdown() {
	var wg sync.WaitGroup
	for _, p := range c.procs() {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

func (c *cluster) procs() []*proc {
	var out []*proc
	for _, cs := range c.cfg {
		out = append(out, cs.proc)
	}
	for _, ds := range c.data {
		out = append(out, ds.proc)
	}
	return out
}

func (c *cluster) configHTTP() []string {
	var out []string
	for _, cs := range c.cfg {
		out = append(out, cs.http)
	}
	return out
}

func (c *cluster) configRESP() []string {
	var out []string
	for _, cs := range c.cfg {
		out = append(out, cs.resp)
	}
	return out
}

// ctl runs `granary ctl` against the config servers; it returns the output.
func (c *cluster) ctl(args ...string) (string, error) { return c.ctlWithin(15*time.Second, args...) }

// ctlLong is ctl for commands that wait (a migration): up to 5 minutes.
func (c *cluster) ctlLong(args ...string) (string, error) { return c.ctlWithin(5*time.Minute, args...) }

func (c *cluster) ctlWithin(limit time.Duration, args ...string) (string, error) {
	full := append([]string{"ctl", "--config-servers", strings.Join(c.configHTTP(), ","), "--timeout", "5s"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, granaryBin, full...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String() + errOut.String(), fmt.Errorf("granary ctl %s: %v: %s", strings.Join(args, " "), err,
			strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// ctlJSON runs `granary ctl --json args` and decodes its output into v.
func (c *cluster) ctlJSON(v any, args ...string) error {
	out, err := c.ctl(append([]string{"--json"}, args...)...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("granary ctl --json %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// leader returns the config leader, as `granary ctl status` names it.
func (c *cluster) leader() (*configServer, error) {
	var st clusterapi.Status
	if err := c.ctlJSON(&st, "status"); err != nil {
		return nil, err
	}
	for _, cs := range c.cfg {
		if cs.id == st.Leader && cs.running() {
			return cs, nil
		}
	}
	return nil, fmt.Errorf("status names leader %q", st.Leader)
}

// waitLeader waits until ctl status names a running leader.
func (c *cluster) waitLeader(timeout time.Duration) (*configServer, error) {
	deadline := time.Now().Add(timeout)
	for {
		cs, err := c.leader()
		if err == nil {
			return cs, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no config leader within %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitHealthy waits until the cluster is whole again (see healthy). A
// process that died on its own ends the wait at once.
func (c *cluster) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		for _, p := range c.procs() {
			if err := p.died(); err != nil {
				return err
			}
		}
		err := c.healthy()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy within %v: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// healthy returns nil when the config servers have a leader, every data
// server is up, every bucket has its copies on up nodes (ctl status, table,
// nodes), every data server holds the current table (CLUSTER INFO), and in
// every namespace every bucket's primary answers a GET and every data server
// acknowledges a SET as a primary.
func (c *cluster) healthy() error {
	var st clusterapi.Status
	if err := c.ctlJSON(&st, "status"); err != nil {
		return err
	}
	if st.Leader == "" || st.Epoch == 0 || st.Unassigned != 0 || st.Nodes[string(clusterapi.NodeUp)] != len(c.data) {
		return fmt.Errorf("status: leader %q, epoch %d, %d unassigned buckets, nodes %v", st.Leader, st.Epoch, st.Unassigned, st.Nodes)
	}
	var table clusterapi.Table
	if err := c.ctlJSON(&table, "table"); err != nil {
		return err
	}
	var nodes []clusterapi.Node
	if err := c.ctlJSON(&nodes, "nodes"); err != nil {
		return err
	}
	up := map[string]bool{}
	for _, n := range nodes {
		up[n.ID] = n.State == clusterapi.NodeUp
	}
	covered := 0
	for _, r := range table.Ranges {
		if len(r.Replicas) != st.Copies {
			return fmt.Errorf("table epoch %d: buckets %d-%d have %d copies, want %d", table.Epoch, r.First, r.Last, len(r.Replicas), st.Copies)
		}
		for _, x := range r.Replicas {
			if x < 0 || x >= len(table.Nodes) || !up[table.Nodes[x]] {
				return fmt.Errorf("table epoch %d: buckets %d-%d have a copy on a node not up", table.Epoch, r.First, r.Last)
			}
		}
		covered += r.Last - r.First + 1
	}
	if covered != routing.Buckets {
		return fmt.Errorf("table epoch %d covers %d buckets", table.Epoch, covered)
	}
	for _, ds := range c.data {
		info, err := clusterInfo(ds.addr)
		if err != nil {
			return fmt.Errorf("%s: CLUSTER INFO: %v", ds.name, err)
		}
		if info["cluster_state"] != "ok" || info["cluster_current_epoch"] != strconv.FormatUint(st.Epoch, 10) {
			return fmt.Errorf("%s: cluster_state %s, epoch %s; the config servers' epoch %d", ds.name,
				info["cluster_state"], info["cluster_current_epoch"], st.Epoch)
		}
	}
	owners, err := slotOwners(c.data[0].addr)
	if err != nil {
		return fmt.Errorf("CLUSTER SLOTS: %v", err)
	}
	for _, ds := range c.data {
		for mode, id := range c.ns {
			if err := c.serves(ds, owners, int(id)); err != nil {
				return fmt.Errorf("%s, %s namespace: %v", ds.name, mode, err)
			}
		}
	}
	return nil
}

// serves checks that ds answers a GET in every bucket it is the primary of
// (pipelined), and acknowledges a SET in one of them, in namespace ns.
func (c *cluster) serves(ds *dataServer, owners [routing.Buckets]string, ns int) error {
	keys := bucketKeys()
	_, err := oneShot(ds.addr, ns, func(ctx context.Context, r *redis.Client) (bool, error) {
		pipe := r.Pipeline()
		probe := ""
		for b, k := range keys {
			if owners[b] == ds.addr {
				pipe.Get(ctx, k)
				if probe == "" {
					probe = k
				}
			}
		}
		if probe == "" {
			return true, nil // primary of nothing
		}
		cmds, _ := pipe.Exec(ctx)
		for _, cmd := range cmds {
			if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
				return false, fmt.Errorf("%s: %v", strings.Join(strings.Fields(fmt.Sprint(cmd.Args())), " "), err)
			}
		}
		if err := r.Set(ctx, probe, "probe-"+randHex(4), 0).Err(); err != nil {
			return false, fmt.Errorf("SET %s: %v", probe, err)
		}
		return true, nil
	})
	return err
}

// bucketKeys returns a key in every bucket.
var bucketKeys = sync.OnceValue(func() []string {
	keys := make([]string, routing.Buckets)
	left := routing.Buckets
	for i := 0; left > 0; i++ {
		k := "probe:" + strconv.Itoa(i)
		if b := routing.Bucket([]byte(k)); keys[b] == "" {
			keys[b] = k
			left--
		}
	}
	return keys
})

// ---------------------------------------------------------------------------
// Readiness and one-shot RESP queries

// httpReady: the config server's API answers /v1/status.
func httpReady(addr string) func() error {
	api := clusterapi.NewClient([]string{addr})
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := api.Status(ctx)
		return err
	}
}

// pingReady: the server answers PING.
func pingReady(addr string) func() error {
	return func() error {
		_, err := oneShot(addr, 0, func(ctx context.Context, r *redis.Client) (string, error) { return r.Ping(ctx).Result() })
		return err
	}
}

// oneShot runs one query on a fresh single-connection client in namespace
// ns, bounded to 2s, with no retry.
func oneShot[T any](addr string, ns int, query func(context.Context, *redis.Client) (T, error)) (T, error) {
	r := redis.NewClient(&redis.Options{Addr: addr, DB: ns, Protocol: 2, MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: 2 * time.Second, PoolSize: 1, DisableIdentity: true})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return query(ctx, r)
}

// clusterInfo returns a server's CLUSTER INFO fields.
func clusterInfo(addr string) (map[string]string, error) {
	s, err := oneShot(addr, 0, func(ctx context.Context, r *redis.Client) (string, error) { return r.ClusterInfo(ctx).Result() })
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

// slotOwners returns each slot's primary address, from a server's CLUSTER SLOTS.
func slotOwners(addr string) ([routing.Buckets]string, error) {
	var owners [routing.Buckets]string
	slots, err := oneShot(addr, 0, func(ctx context.Context, r *redis.Client) ([]redis.ClusterSlot, error) {
		return r.ClusterSlots(ctx).Result()
	})
	if err != nil {
		return owners, err
	}
	for _, s := range slots {
		if len(s.Nodes) == 0 || s.Start < 0 || s.End >= routing.Buckets || s.Start > s.End {
			return owners, fmt.Errorf("CLUSTER SLOTS range %+v", s)
		}
		for b := s.Start; b <= s.End; b++ {
			owners[b] = s.Nodes[0].Addr
		}
	}
	return owners, nil
}

// primaries returns how many buckets the config servers' CLUSTER SLOTS name
// ds the primary of (-1: no config server answers).
func (c *cluster) primaries(ds *dataServer) int {
	for _, cs := range c.cfg {
		if !cs.running() {
			continue
		}
		owners, err := slotOwners(cs.resp)
		if err != nil {
			continue
		}
		n := 0
		for _, a := range owners {
			if a == ds.addr {
				n++
			}
		}
		return n
	}
	return -1
}

// promotionWatch notes when the config servers first name no bucket with a
// data server as primary.
type promotionWatch struct {
	stop chan struct{}
	done chan int64
	once sync.Once
	at   int64
}

// watchPromotion polls the config servers' CLUSTER SLOTS every 50ms until
// finish; a data server that is the primary of nothing to begin with is not
// watched.
func (c *cluster) watchPromotion(ds *dataServer) *promotionWatch {
	w := &promotionWatch{stop: make(chan struct{}), done: make(chan int64, 1)}
	if c.primaries(ds) <= 0 {
		w.done <- 0
		return w
	}
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if c.primaries(ds) == 0 {
				w.done <- now()
				return
			}
			select {
			case <-w.stop:
				w.done <- 0
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// finish stops the watch (again: no-op) and returns when the primaries
// moved away (0: not seen).
func (w *promotionWatch) finish() int64 {
	w.once.Do(func() {
		close(w.stop)
		w.at = <-w.done
	})
	return w.at
}

// randHex returns n random bytes in hex.
func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// mkRunDir makes the run's directory under FAULT_OUT.
func mkRunDir(t *testing.T, out string) string {
	t.Helper()
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(out, "run-"+time.Now().Format("20060102-150405")+"-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
