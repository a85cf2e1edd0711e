//go:build e2e

package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// ---------------------------------------------------------------------------
// Processes

// proc is one granary process. It keeps its arguments (ports, directory), so
// that it can be SIGKILLed and started again as the same server.
type proc struct {
	name    string
	args    []string
	logPath string
	ready   func() error // nil once the process serves

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current run has exited
	exitErr error         // valid after exited is closed
	down    bool          // killed or stopped by the test on purpose
	starts  int
}

// newProc prepares a process whose output goes to logPath; it is stopped when
// the test ends, the test fails if it died without being told to, and when the
// test failed the end of its log is printed (the whole log is kept).
func newProc(t *testing.T, name, logPath string, ready func() error, args ...string) *proc {
	p := &proc{name: name, args: args, logPath: logPath, ready: ready, down: true}
	t.Cleanup(func() {
		p.mu.Lock()
		down, exited, started := p.down, p.exited, p.starts > 0
		p.mu.Unlock()
		if started && !down {
			select {
			case <-exited:
				p.mu.Lock()
				err := p.exitErr
				p.mu.Unlock()
				t.Errorf("%s died during the test: %v (log %s)", p.name, err, p.logPath)
			case <-time.After(20 * time.Millisecond):
			}
		}
		p.stop()
		if t.Failed() && started {
			t.Logf("%s: last lines of %s:\n%s", p.name, p.logPath, tailFile(p.logPath, 25))
		}
	})
	return p
}

// start runs the process and waits until it serves.
func (p *proc) start(t *testing.T) {
	t.Helper()
	if err := p.startErr(20 * time.Second); err != nil {
		t.Fatalf("%v", err)
	}
}

func (p *proc) startErr(timeout time.Duration) error {
	p.mu.Lock()
	if !p.down {
		p.mu.Unlock()
		return fmt.Errorf("%s: started twice", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	fmt.Fprintf(f, "=== %s start #%d at %s: %s\n", p.name, p.starts+1, time.Now().Format("15:04:05.000"), strings.Join(p.args, " "))
	cmd := exec.Command(granaryBin, p.args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		p.mu.Unlock()
		return fmt.Errorf("start %s: %v", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.down = cmd, exited, false
	p.starts++
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(exited)
	}()

	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("%s exited at start: %v\n%s", p.name, p.exitErr, tailFile(p.logPath, 20))
		default:
		}
		err := p.ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("%s not ready within %v: %v\n%s", p.name, timeout, err, tailFile(p.logPath, 20))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// alive reports whether the process is running.
func (p *proc) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig (SIGSTOP, SIGCONT) to the running process.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process.Signal(sig) != nil {
		t.Fatalf("%s: cannot send %v", p.name, sig)
	}
	appendLog(p.logPath, fmt.Sprintf("=== %s sent %v by the test at %s\n", p.name, sig, time.Now().Format("15:04:05.000")))
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	p.down = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still running 10s after SIGKILL", p.name)
	}
	appendLog(p.logPath, fmt.Sprintf("=== %s SIGKILLed by the test at %s\n", p.name, time.Now().Format("15:04:05.000")))
}

// restart starts a killed process again with the same arguments.
func (p *proc) restart(t *testing.T) {
	t.Helper()
	p.start(t)
}

// stop terminates the process: SIGTERM, then SIGKILL after 5s.
func (p *proc) stop() {
	p.mu.Lock()
	p.down = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

func appendLog(path, s string) {
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		f.WriteString(s)
		f.Close()
	}
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePorts returns n distinct loopback ports that were free a moment ago,
// below the kernel's ephemeral range: client sockets (redis-benchmark opens
// hundreds) take their ports from that range, and a server restarted on its
// old port must not find it taken by one.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 12000 {
				lo = v
			}
		}
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n && tries < 1000; tries++ {
		p := 10000 + mrand.IntN(lo-10000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		ports = append(ports, p)
	}
	if len(ports) < n {
		t.Fatalf("found only %d free ports of %d", len(ports), n)
	}
	return ports
}

func loop(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// newNodeID returns a random data server id: 40 hex characters, the form of
// Redis Cluster node ids.
func newNodeID() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ---------------------------------------------------------------------------
// Servers

// configServer is a `granary config` process.
type configServer struct {
	*proc
	id   string
	dir  string
	raft string // Raft transport address
	http string // API address
	resp string // RESP address (CLUSTER SLOTS/SHARDS/NODES)
}

// dataServer is a `granary data` process.
type dataServer struct {
	*proc
	id   string
	dir  string
	zone string
	addr string // RESP
	http string
}

// clusterOpts shape a cluster.
type clusterOpts struct {
	configs  int      // config servers: 1 or 3
	data     int      // data servers started (and, without autoAdd, added first)
	autoAdd  bool     // config servers let unknown data servers join
	copies   int      // replicas per bucket; 0: the config server's default
	minNodes int      // data servers needed for the first table; 0: data
	dataArgs []string // extra flags of every data server
	// requirePass is the data servers' --requirepass; the harness's own
	// probes (oneShot) log in with it.
	requirePass string
}

// cluster is a running Granary cluster.
type cluster struct {
	dir  string
	opts clusterOpts
	cfg  []*configServer
	data []*dataServer
	api  *clusterapi.Client // every config server's API address
}

// startCluster starts the config servers, waits for a Raft leader, adds the
// data servers' ids when the config servers do not add nodes themselves,
// starts the data servers and waits until the table covers every bucket and
// every data server holds it.
func startCluster(t *testing.T, o clusterOpts) *cluster {
	t.Helper()
	if o.minNodes == 0 {
		o.minNodes = o.data
	}
	dir, err := os.MkdirTemp("", "granary-"+strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs after every process has stopped.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs and data directories kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	c := &cluster{dir: dir, opts: o}
	if o.requirePass != "" {
		c.opts.dataArgs = append(slices.Clone(o.dataArgs), "--requirepass", o.requirePass)
		probePassword = o.requirePass
		t.Cleanup(func() { probePassword = "" })
	}
	ports := freePorts(t, 3*o.configs)
	var peers []string
	for i := 0; i < o.configs; i++ {
		cs := &configServer{
			id:   "cfg" + strconv.Itoa(i+1),
			raft: loop(ports[3*i]),
			http: loop(ports[3*i+1]),
			resp: loop(ports[3*i+2]),
		}
		cs.dir = filepath.Join(c.dir, cs.id)
		c.cfg = append(c.cfg, cs)
		peers = append(peers, cs.id+"="+cs.raft)
	}
	var https []string
	for _, cs := range c.cfg {
		args := []string{"config", "--id", cs.id, "--dir", cs.dir, "--raft", cs.raft, "--http", cs.http,
			"--listen", cs.resp, "--min-nodes", strconv.Itoa(o.minNodes)}
		args = append(args, serverTLSArgs()...)
		if o.configs > 1 {
			args = append(args, "--peers", strings.Join(peers, ","))
		}
		if o.autoAdd {
			args = append(args, "--auto-add")
		}
		if o.copies > 0 {
			args = append(args, "--copies", strconv.Itoa(o.copies))
		}
		cs.proc = newProc(t, cs.id, filepath.Join(c.dir, cs.id+".log"), httpReady(cs.http), args...)
		https = append(https, cs.http)
	}
	c.api = apiClient(https...)
	// Start the group together: a member of three waits for its peers.
	var wg sync.WaitGroup
	errs := make([]error, len(c.cfg))
	for i, cs := range c.cfg {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = cs.startErr(30 * time.Second)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	c.waitLeader(t, c.cfg, 30*time.Second)

	for i := 0; i < o.data; i++ {
		ds := c.newDataServer(t, "z"+strconv.Itoa(i%3+1))
		if !o.autoAdd {
			c.addNode(t, ds.id, ds.zone)
		}
		ds.start(t)
	}
	c.waitTable(t, o.data, 60*time.Second)
	return c
}

// newDataServer prepares (does not start) a data server with a fresh id,
// directory and ports.
func (c *cluster) newDataServer(t *testing.T, zone string) *dataServer {
	t.Helper()
	ports := freePorts(t, 2)
	ds := &dataServer{id: newNodeID(), zone: zone, addr: loop(ports[0]), http: loop(ports[1])}
	n := len(c.data) + 1
	name := "data" + strconv.Itoa(n)
	ds.dir = filepath.Join(c.dir, name)
	args := append([]string{"data", "--config-servers", strings.Join(c.configHTTP(), ","), "--id", ds.id, "--dir", ds.dir,
		"--zone", ds.zone, "--listen", ds.addr, "--http", ds.http, "--advertise", ds.addr}, c.opts.dataArgs...)
	args = append(args, dataTLSArgs()...)
	ds.proc = newProc(t, name, filepath.Join(c.dir, name+".log"), pingReady(ds.addr), args...)
	c.data = append(c.data, ds)
	return ds
}

// configHTTP returns the config servers' API addresses.
func (c *cluster) configHTTP() []string {
	var out []string
	for _, cs := range c.cfg {
		out = append(out, cs.http)
	}
	return out
}

// addNode allows a data server to join (the API call behind `granary ctl node add`).
func (c *cluster) addNode(t *testing.T, id, zone string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, err := c.api.AddNode(ctx, clusterapi.NodeAdd{ID: id, Zone: zone})
		var se *clusterapi.StatusError
		if errors.As(err, &se) && se.Code == http.StatusServiceUnavailable && ctx.Err() == nil {
			// A leader just elected answers once it applied its log.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("add node %s: %v", id, err)
		}
		return
	}
}

// status returns the answer of the config servers at addrs (all when none).
func (c *cluster) status(addrs ...string) (*clusterapi.Status, error) {
	api := c.api
	if len(addrs) > 0 {
		api = apiClient(addrs...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return api.Status(ctx)
}

// waitLeader waits until a config server among servers reports a leader that
// is one of servers, and returns it.
func (c *cluster) waitLeader(t *testing.T, servers []*configServer, timeout time.Duration) *configServer {
	t.Helper()
	var last string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, cs := range servers {
			st, err := c.status(cs.http)
			if err != nil {
				last = err.Error()
				continue
			}
			for _, l := range servers {
				if st.Leader == l.id {
					return l
				}
			}
			last = fmt.Sprintf("%s reports leader %q", cs.id, st.Leader)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no config leader within %v: %s", timeout, last)
	return nil
}

// leader returns the current config leader.
func (c *cluster) leader(t *testing.T) *configServer {
	t.Helper()
	var live []*configServer
	for _, cs := range c.cfg {
		if cs.alive() {
			live = append(live, cs)
		}
	}
	return c.waitLeader(t, live, 30*time.Second)
}

// liveData returns the data servers that are running.
func (c *cluster) liveData() []*dataServer {
	var out []*dataServer
	for _, ds := range c.data {
		if ds.alive() {
			out = append(out, ds)
		}
	}
	return out
}

// waitTable waits until the config servers report a leader, up data servers
// and no bucket without a primary, and every running data server holds a
// table of that epoch with every slot assigned (CLUSTER INFO).
func (c *cluster) waitTable(t *testing.T, up int, timeout time.Duration) *clusterapi.Status {
	t.Helper()
	st, err := c.waitTableErr(up, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (c *cluster) waitTableErr(up int, timeout time.Duration) (*clusterapi.Status, error) {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		st, err := c.status()
		if err != nil {
			last = "status: " + err.Error()
			continue
		}
		if st.Leader == "" || st.Nodes[string(clusterapi.NodeUp)] < up || st.Unassigned != 0 || st.Epoch == 0 {
			last = fmt.Sprintf("status %+v", *st)
			continue
		}
		ok := true
		for _, ds := range c.liveData() {
			info, err := clusterInfo(ds.addr)
			if err != nil {
				last, ok = ds.name+": CLUSTER INFO: "+err.Error(), false
				break
			}
			if info["cluster_state"] != "ok" || info["cluster_current_epoch"] != strconv.FormatUint(st.Epoch, 10) {
				last, ok = fmt.Sprintf("%s: cluster_state %s epoch %s, config epoch %d", ds.name,
					info["cluster_state"], info["cluster_current_epoch"], st.Epoch), false
				break
			}
		}
		if !ok {
			continue
		}
		if msg := c.notServing(st, up); msg != "" {
			last = msg
			continue
		}
		return st, nil
	}
	return nil, fmt.Errorf("the table was not built within %v: %s", timeout, last)
}

// notServing says why the cluster does not serve every bucket with its
// full copies yet ("" when it does): a bucket short of copies (the config
// servers restore them after a failure), or a primary that answers
// TRYAGAIN (no lease from its secondaries yet, or fenced after a failover).
func (c *cluster) notServing(st *clusterapi.Status, up int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	tb, err := apiClient(c.configHTTP()...).Table(ctx)
	if err != nil {
		return "table: " + err.Error()
	}
	want := min(st.Copies, up)
	for _, r := range tb.Ranges {
		if len(r.Replicas) < want {
			return fmt.Sprintf("buckets %d-%d have %d copies, want %d", r.First, r.Last, len(r.Replicas), want)
		}
	}
	owners, err := slotOwners(c.liveData()[0].addr)
	if err != nil {
		return "slots: " + err.Error()
	}
	// Every secondary caught up.
	for _, ds := range c.liveData() {
		if n, err := metric(ds.http, "granary_repl_secondaries_behind"); err != nil || n != 0 {
			return fmt.Sprintf("%s: %v secondaries behind (%v)", ds.name, n, err)
		}
	}
	// One GET per bucket, pipelined to its primary.
	keys := bucketKeys()
	for _, ds := range c.liveData() {
		msg, _ := oneShot(ds.addr, func(ctx context.Context, rc *redis.Client) (string, error) {
			pipe := rc.Pipeline()
			for b, k := range keys {
				if owners[b] == ds.addr {
					pipe.Get(ctx, k)
				}
			}
			cmds, _ := pipe.Exec(ctx)
			for _, cmd := range cmds {
				if err := cmd.Err(); err != nil && err != redis.Nil {
					return ds.name + ": " + cmd.String(), nil
				}
			}
			return "", nil
		})
		if msg != "" {
			return msg
		}
	}
	return ""
}

// metric returns a gauge or counter without labels from a server's /metrics.
func metric(addr, name string) (float64, error) {
	resp, err := httpGet(addr, "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no metric %s", name)
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
// Readiness and RESP helpers

// httpReady: the config server's API answers /v1/status.
func httpReady(addr string) func() error {
	api := apiClient(addr)
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
		_, err := oneShot(addr, func(ctx context.Context, c *redis.Client) (string, error) { return c.Ping(ctx).Result() })
		return err
	}
}

// plainClient is a non-cluster go-redis client; it is closed when the test ends.
func plainClient(t *testing.T, addr string, proto int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, DialTimeout: 2 * time.Second, TLSConfig: clientTLS(),
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// probePassword is the password oneShot logs in with: the --requirepass of
// the running cluster's data servers ("" none). Tests run one at a time.
var probePassword string

// oneShot runs one query on a fresh single-connection client, bounded to 2 s.
func oneShot[T any](addr string, query func(context.Context, *redis.Client) (T, error)) (T, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: 2 * time.Second, PoolSize: 1, Password: probePassword, TLSConfig: clientTLS()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return query(ctx, c)
}

// clusterInfo returns a server's CLUSTER INFO fields.
func clusterInfo(addr string) (map[string]string, error) {
	s, err := oneShot(addr, func(ctx context.Context, c *redis.Client) (string, error) { return c.ClusterInfo(ctx).Result() })
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

// nodeLine is a line of CLUSTER NODES.
type nodeLine struct {
	id, addr, flags, master string
	link                    string
	slots                   []string
}

// clusterNodes returns a server's CLUSTER NODES.
func clusterNodes(addr string) ([]nodeLine, error) {
	s, err := oneShot(addr, func(ctx context.Context, c *redis.Client) (string, error) { return c.ClusterNodes(ctx).Result() })
	if err != nil {
		return nil, err
	}
	var out []nodeLine
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(l)
		if len(f) < 8 {
			if len(f) > 0 {
				return nil, fmt.Errorf("CLUSTER NODES line %q", l)
			}
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		out = append(out, nodeLine{id: f[0], addr: addr, flags: f[2], master: f[3], link: f[7], slots: f[8:]})
	}
	return out, nil
}

// slotOwners returns each slot's primary address, from a server's CLUSTER SLOTS.
func slotOwners(addr string) ([routing.Buckets]string, error) {
	var owners [routing.Buckets]string
	slots, err := oneShot(addr, func(ctx context.Context, c *redis.Client) ([]redis.ClusterSlot, error) {
		return c.ClusterSlots(ctx).Result()
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

// keysOn returns n keys (prefix + a number) whose slots addr is the primary
// of, by owners.
func keysOn(owners [routing.Buckets]string, addr, prefix string, n int) []string {
	var keys []string
	for i := 0; len(keys) < n && i < 1000000; i++ {
		k := prefix + strconv.Itoa(i)
		if owners[routing.Bucket([]byte(k))] == addr {
			keys = append(keys, k)
		}
	}
	return keys
}

// ctl runs `granary ctl` against the cluster's config servers and returns its
// combined output.
func (c *cluster) ctl(args ...string) (string, error) {
	full := append(append([]string{"ctl", "--config-servers", strings.Join(c.configHTTP(), ",")}, ctlTLSArgs()...), args...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, granaryBin, full...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// mustCtl is ctl failing the test on a non-zero exit.
func (c *cluster) mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.ctl(args...)
	if err != nil {
		t.Fatalf("granary ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// durations summarises measured times: median and maximum.
func durations(ds []time.Duration) (median, max time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		median = s[len(s)/2]
	} else {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return median, s[len(s)-1]
}

// randValue returns a unique value.
func randValue(prefix string) string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	return prefix + ":" + n.String()
}
