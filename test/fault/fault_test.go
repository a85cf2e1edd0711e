//go:build fault

package fault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
)

// TestFaults runs one cluster through every fault kind of FAULT_KINDS, each a
// subtest with fresh keys: the workloads (one per namespace, side by side)
// run, FAULT_ROUNDS faults of the kind are injected, each followed by a wait
// until the cluster is healthy and a quiet period; then the workloads stop,
// the registers and the write-once keys are read back, and the histories are
// checked. The sync namespace must show no violation and no lost
// acknowledged write; the async one is reported only.
func TestFaults(t *testing.T) {
	k := loadKnobs(t)
	dir := mkRunDir(t, k.out)
	keep := false
	// Registered first, so it runs after the processes have stopped.
	t.Cleanup(func() {
		if t.Failed() || k.keep || keep {
			t.Logf("logs, data and visualizations kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	var cut *netcut
	if slices.Contains(k.kinds, "partition") {
		cut = newNetcut(t)
	}
	var missing []string
	for name, has := range map[string]bool{"--source-addr": dataFlags.sourceAddr, "--lease": dataFlags.lease,
		"--cluster-secret": dataFlags.clusterSecret} {
		if !has {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Logf("granary data has no %s: started without them", strings.Join(missing, ", "))
	}
	t.Logf("run directory %s; kinds %v x %d; namespaces %v; %d clients and %d registers each",
		dir, k.kinds, k.rounds, k.namespaces, k.clients, k.keys)

	clusters := 0
	newCluster := func() *cluster {
		clusters++
		subnet := pickSubnet(t)
		cdir := filepath.Join(dir, "cluster"+strconv.Itoa(clusters))
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("cluster %d: addresses %s0/24, directory %s", clusters, subnet, cdir)
		c := startCluster(t, k, cdir, subnet)
		checkSelect(t, c, k)
		return c
	}
	c := newCluster()
	var outs []*outcome
	for _, kind := range k.kinds {
		if c.broken == nil {
			for _, p := range c.procs() {
				if !p.running() {
					c.broken = fmt.Errorf("%s is not running", p.name)
				}
			}
		}
		if c.broken != nil {
			t.Logf("the cluster is not whole (%v): %s runs on a new one", c.broken, kind)
			c.shutdown()
			c = newCluster()
		}
		t.Run(kind, func(t *testing.T) {
			res := runKind(t, c, k, kind, cut)
			for _, o := range res {
				if len(o.viz) > 0 {
					keep = true
				}
			}
			outs = append(outs, res...)
		})
	}
	summary(t, outs)
}

// runKind runs the workloads through k.rounds faults of one kind and checks
// what they saw.
func runKind(t *testing.T, c *cluster, k knobs, kind string, cut *netcut) []*outcome {
	if err := c.waitHealthy(k.heal); err != nil {
		c.broken = err
		t.Fatalf("before the faults: %v", err)
	}
	prefix := kind + "-" + randHex(3)
	var wls []*workload
	for _, mode := range k.namespaces {
		w := startWorkload(c, k, mode, prefix)
		t.Cleanup(w.stop)
		wls = append(wls, w)
	}
	scr := startScraper(c)
	t.Cleanup(func() { scr.finish() })
	var events []faultEvent
	var ineffective string
	time.Sleep(k.quiet)
	for round := 0; round < k.rounds; round++ {
		ds := c.victim(round)
		var watch *promotionWatch
		if kind == "kill" || kind == "stop" || kind == "partition" || kind == "restart" {
			watch = c.watchPromotion(ds)
			t.Cleanup(func() { watch.finish() })
		}
		ev, note := inject(t, c, k, kind, ds, cut)
		if note != "" {
			ineffective = note
		}
		err := c.waitHealthy(k.heal)
		ev.healed = now()
		if watch != nil {
			ev.promoted = watch.finish()
		}
		events = append(events, ev)
		t.Logf("%s %s (%s) at %s, undone at %s, healthy again at %s", ev.kind, ev.target, orDash(ev.detail), at(ev.start), at(ev.end), at(ev.healed))
		if err != nil {
			c.broken = err
			t.Errorf("after %s %s: %v", ev.kind, ev.target, err)
			break
		}
		time.Sleep(k.quiet)
	}
	for _, w := range wls {
		w.stop()
	}
	lag := scr.finish()

	var outs []*outcome
	for _, w := range wls {
		o := analyse(t, c, k, w, kind, events)
		o.ineffective = ineffective
		if w.mode == "async" {
			o.replLag = lag
		}
		o.log(t)
		if w.mode == "sync" {
			assertClean(t, o)
		}
		outs = append(outs, o)
	}
	return outs
}

// analyse reads the workload's keys back and checks its history.
func analyse(t *testing.T, c *cluster, k knobs, w *workload, kind string, events []faultEvent) *outcome {
	o := &outcome{kind: kind, mode: w.mode}
	ops := w.ops()
	o.count(ops)
	deadline := time.Now().Add(k.heal)
	final, err := w.finalReads(c, k.opTimeout, deadline)
	if err != nil {
		o.readErrs = append(o.readErrs, err.Error())
	}
	got, err := w.readOnce(c, k.opTimeout, deadline)
	if err != nil {
		o.readErrs = append(o.readErrs, err.Error())
	}
	o.acked, o.lost, o.unread, o.ghosts, o.badGhosts, o.lostExamples = lostWrites(ops, got)
	all := append(ops, final...)
	hist := history(all)
	o.lin = checkLinearizable(hist, k.check)
	for i, key := range o.lin.illegal {
		if i == 3 {
			o.illegalNotes = append(o.illegalNotes, fmt.Sprintf("... and %d more keys", len(o.lin.illegal)-3))
			break
		}
		o.illegalNotes = append(o.illegalNotes, describeKey(key, all))
		name := fmt.Sprintf("%s-%s-%s", kind, w.mode, strings.ReplaceAll(key, ":", "_"))
		path, err := visualize(c.dir, name, hist[key], events, k.check)
		if err != nil {
			t.Logf("visualization of %s: %v", key, err)
			continue
		}
		o.viz = append(o.viz, path)
	}
	o.gaps = writeGaps(ops, events)
	return o
}

// assertClean fails the test unless the outcome is linearizable, lost
// nothing and was read back.
func assertClean(t *testing.T, o *outcome) {
	t.Helper()
	switch o.lin.result {
	case porcupine.Illegal:
		t.Errorf("%s, %s namespace: %d keys have a history that is not linearizable (visualizations: %s)",
			o.kind, o.mode, len(o.lin.illegal), strings.Join(o.viz, " "))
	case porcupine.Unknown:
		t.Errorf("%s, %s namespace: porcupine could not decide %d keys within FAULT_CHECK_TIMEOUT", o.kind, o.mode, len(o.lin.unknown))
	}
	if o.lost > 0 {
		t.Errorf("%s, %s namespace: %d of %d acknowledged writes lost", o.kind, o.mode, o.lost, o.acked)
	}
	if o.badGhosts > 0 {
		t.Errorf("%s, %s namespace: %d writes refused (MOVED, TRYAGAIN, CLUSTERDOWN, no connection) were applied", o.kind, o.mode, o.badGhosts)
	}
	for _, e := range o.readErrs {
		t.Errorf("%s, %s namespace: read-back: %s", o.kind, o.mode, e)
	}
	if o.setsOK == 0 || o.getsOK == 0 {
		t.Errorf("%s, %s namespace: the workload had %d acknowledged SETs and %d successful GETs", o.kind, o.mode, o.setsOK, o.getsOK)
	}
}

// inject runs one fault of a kind to its end (the fault undone; not the
// cluster healed). The note says when the fault could not do what it says.
func inject(t *testing.T, c *cluster, k knobs, kind string, ds *dataServer, cut *netcut) (faultEvent, string) {
	t.Helper()
	ev := faultEvent{kind: kind}
	var note string
	switch kind {
	case "none":
		ev.target, ev.start = "-", now()
		time.Sleep(k.down)
		ev.end = now()
	case "kill":
		ev.target, ev.detail = ds.name, c.primaryOf(ds)
		killRestart(t, ds.proc, k.down, &ev)
	case "stop":
		ev.target, ev.detail = ds.name, c.primaryOf(ds)
		ev.start = now()
		if err := ds.pause(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ds.unpause) // should the test stop before SIGCONT
		time.Sleep(k.stop)
		ev.end = now()
		if err := ds.resume(); err != nil {
			t.Fatal(err)
		}
	case "partition":
		ev.target, ev.detail = ds.name, c.primaryOf(ds)
		var others []string
		for _, o := range c.data {
			if o != ds {
				others = append(others, o.ip)
			}
		}
		if !dataFlags.sourceAddr {
			note = "granary data has no --source-addr: data servers' connections to each other come from 127.0.0.1, so the cut did not separate them"
		}
		ev.start = now()
		t.Cleanup(func() { cut.heal() }) // should the test stop before the heal
		if err := cut.cut(ds.ip, others); err != nil {
			t.Fatal(err)
		}
		time.Sleep(k.cut)
		ev.end = now()
		if err := cut.heal(); err != nil {
			t.Fatal(err)
		}
	case "config-kill":
		cs, err := c.waitLeader(30 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ev.target = cs.id + " (leader)"
		killRestart(t, cs.proc, k.down, &ev)
	case "restart":
		ev.target, ev.detail = ds.name, c.primaryOf(ds)
		ev.start = now()
		if err := ds.term(); err != nil {
			t.Error(err)
		}
		ev.end = now()
		if err := ds.start(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	case "move-kill", "move-config-kill":
		// A migration under way: the victim drains (its copies move to
		// the others); mid-move a target data server or the config
		// leader is SIGKILLed and restarted. Then it takes its share back.
		id, err := c.nodeID(ds)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := c.ctl("node", "drain", id); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		time.Sleep(time.Second)
		if kind == "move-kill" {
			target := c.data[(slices.Index(c.data, ds)+1)%len(c.data)]
			ev.target, ev.detail = target.name, "a migration target, while "+ds.name+" drains"
			killRestart(t, target.proc, k.down, &ev)
		} else {
			cs, err := c.waitLeader(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			ev.target, ev.detail = cs.id+" (leader)", "while "+ds.name+" drains"
			killRestart(t, cs.proc, k.down, &ev)
		}
		for _, step := range [][]string{{"moves", "--wait", "-q", "--max-wait", "3m"}, {"node", "undrain", id, "--wait", "-q", "--max-wait", "3m"}} {
			if out, err := c.ctlLong(step...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		}
	default:
		t.Fatalf("unknown fault kind %q", kind)
	}
	return ev, note
}

// killRestart SIGKILLs p, waits down and starts it again, marking the
// fault's start and end in ev.
func killRestart(t *testing.T, p *proc, down time.Duration, ev *faultEvent) {
	t.Helper()
	ev.start = now()
	if err := p.kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(down)
	ev.end = now()
	if err := p.start(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// nodeID returns the id of data server ds, by its address.
func (c *cluster) nodeID(ds *dataServer) (string, error) {
	var nodes []clusterapi.Node
	if err := c.ctlJSON(&nodes, "nodes"); err != nil {
		return "", err
	}
	for _, n := range nodes {
		if n.Addr == ds.addr {
			return n.ID, nil
		}
	}
	return "", fmt.Errorf("no node at %s", ds.addr)
}

// victim picks the data server for a fault: the primary of the most
// buckets, the round choosing among equals.
func (c *cluster) victim(round int) *dataServer {
	best, most := c.data[round%len(c.data)], -1
	for i := range c.data {
		ds := c.data[(round+i)%len(c.data)]
		if n := c.primaries(ds); n > most {
			best, most = ds, n
		}
	}
	return best
}

// primaryOf describes how many buckets ds is the primary of.
func (c *cluster) primaryOf(ds *dataServer) string {
	if n := c.primaries(ds); n >= 0 {
		return fmt.Sprintf("primary of %d buckets", n)
	}
	return "primary of ? buckets"
}

// checkSelect checks that SELECT picks a namespace on the cluster's data
// servers: a key written through a cluster client in one namespace is not
// seen from namespace 0 nor from another.
func checkSelect(t *testing.T, c *cluster, k knobs) {
	t.Helper()
	ids := []int{0}
	for _, mode := range k.namespaces {
		ids = append(ids, int(c.ns[mode]))
	}
	key, val := "select-check:"+randHex(4), randHex(8)
	w := newClient(c, ids[1], 5*time.Second)
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Set(ctx, key, val, 0).Err(); err != nil {
		t.Fatalf("SET in namespace %d through a cluster client that SELECTs it: %v", ids[1], err)
	}
	for _, id := range ids {
		r := newClient(c, id, 5*time.Second)
		got, err := r.Get(ctx, key).Result()
		r.Close()
		want := ""
		if id == ids[1] {
			want = val
		}
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		if err != nil || got != want {
			t.Fatalf("SELECT does not separate namespaces on the data servers: GET in namespace %d = %q, %v; want %q (written in namespace %d)",
				id, got, err, want, ids[1])
		}
	}
}
