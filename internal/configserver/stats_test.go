package configserver

import (
	"context"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"granary/internal/clusterapi"
)

func report(seen time.Time, uptime time.Duration, ns ...clusterapi.NamespaceStats) nodeReport {
	return nodeReport{seen: seen, uptime: uptime, stats: clusterapi.NodeStats{Namespaces: ns}}
}

func TestHistoryRates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sec := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Second))) }
	ns0 := func(reads, hits, misses, batches, nanos uint64, bytes int64) clusterapi.NamespaceStats {
		return clusterapi.NamespaceStats{ID: 0, Reads: reads, Writes: reads, Hits: hits, Misses: misses, Batches: batches, BatchNanos: nanos, Bytes: bytes, Items: bytes / 10}
	}
	cases := []struct {
		name  string
		steps []map[string]nodeReport // one observe per step, a second apart
		want  clusterapi.NamespaceSample
	}{
		{"first report gives no rate yet",
			[]map[string]nodeReport{{"a": report(sec(0), time.Minute, ns0(100, 50, 50, 10, 1e6, 1000))}},
			clusterapi.NamespaceSample{OpsPerSec: 0, HitRate: -1, LatencyMicros: -1, Bytes: 1000, Items: 100}},
		{"rates over the heartbeats' interval, summed over nodes",
			[]map[string]nodeReport{
				{"a": report(sec(0), time.Minute, ns0(100, 50, 50, 10, 1e6, 1000)), "b": report(sec(0), time.Minute, ns0(0, 0, 0, 0, 0, 500))},
				{"a": report(sec(0.5), time.Minute, ns0(200, 125, 75, 60, 6e6, 2000)), "b": report(sec(1), time.Minute, ns0(100, 0, 100, 100, 1e6, 500))},
			},
			// a: 400 ops/s, 150 hits/s, 50 misses/s, 100 batches/s, 1e7 ns/s;
			// b: 200 ops/s, 0 hits, 100 misses/s, 100 batches/s, 1e6 ns/s.
			clusterapi.NamespaceSample{OpsPerSec: 600, HitRate: 0.5, LatencyMicros: 55, Bytes: 2500, Items: 250}},
		{"a restarted node's counters give no rate",
			[]map[string]nodeReport{
				{"a": report(sec(0), time.Minute, ns0(100, 50, 50, 10, 1e6, 1000))},
				{"a": report(sec(1), time.Second, ns0(10, 10, 0, 1, 1e3, 100))},
			},
			clusterapi.NamespaceSample{OpsPerSec: 0, HitRate: -1, LatencyMicros: -1, Bytes: 100, Items: 10}},
		{"a silent node counts for nothing",
			[]map[string]nodeReport{
				{"a": report(sec(0), time.Minute, ns0(100, 50, 50, 10, 1e6, 1000)), "b": report(sec(0), time.Minute, ns0(0, 0, 0, 0, 0, 500))},
				{"a": report(sec(0), time.Minute, ns0(100, 50, 50, 10, 1e6, 1000)), "b": report(sec(1), time.Minute, ns0(50, 0, 0, 0, 0, 500))},
				{"a": report(sec(0), time.Minute, ns0(100, 50, 50, 10, 1e6, 1000)), "b": report(sec(1), time.Minute, ns0(50, 0, 0, 0, 0, 500))},
			},
			// At the third step (t0+2s) a was last heard 2s ago: stale.
			clusterapi.NamespaceSample{OpsPerSec: 100, HitRate: -1, LatencyMicros: -1, Bytes: 500, Items: 50}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHistory()
			for i, step := range c.steps {
				h.observe(sec(float64(i)), step, 1500*time.Millisecond)
			}
			got := h.samples()
			if len(got) != len(c.steps) {
				t.Fatalf("%d samples, want %d", len(got), len(c.steps))
			}
			last := got[len(got)-1].Namespaces
			if len(last) != 1 {
				t.Fatalf("last sample %+v, want one namespace", last)
			}
			g := last[0]
			near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
			if !near(g.OpsPerSec, c.want.OpsPerSec) || !near(g.HitRate, c.want.HitRate) || !near(g.LatencyMicros, c.want.LatencyMicros) ||
				g.Bytes != c.want.Bytes || g.Items != c.want.Items {
				t.Fatalf("sample %+v, want %+v", g, c.want)
			}
		})
	}
}

func TestHistoryRing(t *testing.T) {
	h := newHistory()
	t0 := time.Unix(1000, 0)
	for i := range statsSamples + 7 {
		h.observe(t0.Add(time.Duration(i)*time.Second), nil, time.Second)
	}
	got := h.samples()
	if len(got) != statsSamples {
		t.Fatalf("%d samples, want %d", len(got), statsSamples)
	}
	for i, s := range got {
		if want := t0.Add(time.Duration(i+7) * time.Second); !s.Time.Equal(want) {
			t.Fatalf("sample %d at %v, want %v (oldest first)", i, s.Time, want)
		}
	}
	h.reset()
	if n := len(h.samples()); n != 0 {
		t.Fatalf("%d samples after reset", n)
	}
}

// TestStatsAndUI: a config server samples the figures heartbeats carry and
// serves them, and serves the dashboard's files.
func TestStatsAndUI(t *testing.T) {
	s := startSingle(t, func(o *Options) { o.AutoAdd = true })
	ctx := ctxT(t)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})
	beat := func(reads uint64) {
		req := &clusterapi.HeartbeatRequest{NodeID: nodeID(1), Addr: "127.0.0.1:17001", Uptime: time.Minute,
			Stats: clusterapi.NodeStats{Items: 3, Bytes: 300, Clients: 2, Namespaces: []clusterapi.NamespaceStats{{ID: 0, Reads: reads, Hits: reads, Items: 3, Bytes: 300}}}}
		if _, err := cl.Heartbeat(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	beat(0)
	var st *clusterapi.Stats
	eventually(t, 10*time.Second, "a sample with the node's reads", func() bool {
		beat(uint64(time.Now().UnixMilli())) // a thousand reads a second
		var err error
		if st, err = cl.Stats(ctx); err != nil {
			t.Fatal(err)
		}
		n := len(st.Samples)
		return n > 0 && len(st.Samples[n-1].Namespaces) == 1 && st.Samples[n-1].Namespaces[0].OpsPerSec > 0
	})
	last := st.Samples[len(st.Samples)-1].Namespaces[0]
	if last.HitRate != 1 || last.Bytes != 300 || st.Leader != "cs1" || st.Interval != time.Second || st.Heartbeat != 250*time.Millisecond {
		t.Fatalf("stats %+v, last sample %+v", st, last)
	}
	if len(st.Nodes) != 1 || st.Nodes[0].ID != nodeID(1) || st.Nodes[0].Clients != 2 || st.Nodes[0].OpsPerSec <= 0 ||
		st.Nodes[0].Silence < 0 || st.Nodes[0].Silence > 5*time.Second {
		t.Fatalf("node loads %+v", st.Nodes)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		path, want string
		code       int
	}{
		{"/", "", http.StatusFound},
		{"/ui/", `<script src="app.js">`, http.StatusOK},
		{"/ui/app.js", "/v1/stats", http.StatusOK},
		{"/ui/style.css", ".badge", http.StatusOK},
		{"/ui/nosuch.js", "", http.StatusNotFound},
		{"/nosuch", "no such endpoint", http.StatusNotFound},
	} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+s.HTTPAddr()+c.path, nil)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(body), c.want) {
			t.Errorf("GET %s: %d %q, want %d with %q", c.path, resp.StatusCode, body, c.code, c.want)
		}
		if c.code == http.StatusFound && resp.Header.Get("Location") != "/ui/" {
			t.Errorf("GET %s redirects to %q", c.path, resp.Header.Get("Location"))
		}
	}
}
