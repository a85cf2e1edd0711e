//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
)

// dashboardShot names the file TestDashboard writes its screenshot to, after
// 30 more seconds of load so that the charts have a history (the docs'
// docs/dashboard.png comes from a run with it set: make dashboard-shot).
const dashboardShot = "GRANARY_DASHBOARD_SCREENSHOT"

// downTimeout is the config servers' default --down-timeout.
const downTimeout = 1500 * time.Millisecond

// TestDashboard loads the web dashboard from a follower config server in
// headless Chromium (Debian's chromium, driven over the DevTools protocol):
// the page must show every data server up and the load of a client workload
// in two namespaces; after a data server is SIGKILLed it must show that
// server down within the down timeout plus a few seconds of slack (the
// leader's check, the Raft commit reaching the follower, the page's poll).
func TestDashboard(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the dashboard test needs Debian's chromium on PATH (apt-get install chromium; .ci/run installs it): %v", err)
	}
	// Auto-add: the data servers join by heartbeating, with no API write
	// racing the new leader's first moments.
	c := startCluster(t, clusterOpts{configs: 3, data: 3, autoAdd: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.api.CreateNamespace(ctx, clusterapi.Namespace{ID: 1, Name: "sessions", Ack: clusterapi.AckAsync}); err != nil {
		t.Fatal(err)
	}

	// Traffic for the charts, in namespaces 0 and 1. Its errors are not this
	// test's subject (a killed server refuses connections until the
	// clients reload the table): they are ignored.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for ns := range 2 {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{c.data[0].addr}, ClusterStateReloadInterval: 500 * time.Millisecond,
			OnConnect: func(ctx context.Context, cn *redis.Conn) error { return cn.Select(ctx, ns).Err() }})
		defer cc.Close()
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
					// Namespace 0 reads what it wrote; namespace 1 reads
					// twice as many keys as it writes (half miss).
					k := fmt.Sprintf("dash:%d:%d", w, i%(1000*(ns+1)))
					if i%(ns+1) == 0 {
						cc.Set(ctx, k, i, 0)
					}
					cc.Get(ctx, k)
				}
			}()
		}
	}

	leader := c.leader(t)
	var follower *configServer
	for _, cs := range c.cfg {
		if cs != leader {
			follower = cs
			break
		}
	}

	actx, acancel := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// The root redirects to /ui/.
	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+follower.http+"/")); err != nil {
		t.Fatalf("loading the dashboard: %v", err)
	}

	for _, ds := range c.data {
		waitPage(t, bctx, 15*time.Second, "data server "+ds.id[:10]+" shown up",
			fmt.Sprintf(`document.querySelector('#nodes tr[data-node="%s"]')?.dataset.state === "up"`, ds.id))
	}
	waitPage(t, bctx, 5*time.Second, "the leader named", fmt.Sprintf(`document.querySelector("#health").dataset.leader === %q`, leader.id))
	waitPage(t, bctx, 5*time.Second, "three config servers listed", `document.querySelectorAll("#config-servers tr[data-config-server]").length === 3`)
	waitPage(t, bctx, 15*time.Second, "both namespaces' load charted",
		`[0, 1].every(id => { const td = document.querySelectorAll('#namespaces tr[data-namespace="' + id + '"] td');
		  return td.length > 6 && parseFloat(td[6].textContent.replace(/,/g, "")) > 0; })
		 && document.querySelectorAll("#chart-ops path, #chart-latency path").length >= 4`)
	waitPage(t, bctx, 5*time.Second, "no error shown", `document.querySelector("#error").hidden`)
	waitPage(t, bctx, 5*time.Second, "the bucket map's legend naming each primary owner",
		`document.querySelectorAll("#bucket-legend div").length === 3 && /5,46[12] primaries/.test(document.querySelector("#bucket-legend").textContent)`)

	shot := os.Getenv(dashboardShot)
	if shot != "" {
		time.Sleep(30 * time.Second) // half a minute of history on the charts
	}
	victim := c.data[2]
	killed := time.Now()
	victim.kill(t)
	waitPage(t, bctx, downTimeout+8*time.Second, "the killed data server shown down",
		fmt.Sprintf(`document.querySelector('#nodes tr[data-node="%s"]')?.dataset.state === "down"`, victim.id))
	t.Logf("killed data server shown down after %v (down timeout %v)", time.Since(killed).Round(10*time.Millisecond), downTimeout)
	waitPage(t, bctx, 5*time.Second, "two data servers up", `document.querySelectorAll('#nodes tr[data-state="up"]').length === 2`)

	// The state colouring: the killed server's buckets lack a copy.
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`document.querySelector('input[value=state]').click()`)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, bctx, 5*time.Second, "under-replicated buckets counted",
		`/under-replicated: [1-9]/.test(document.querySelector('[data-bucket-state="under"]')?.textContent || "")`)

	if shot != "" {
		time.Sleep(3 * time.Second) // the charts show the loss
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s (%d bytes)", shot, len(png))
	}
}

// waitPage polls a JavaScript expression in the page until it is true.
func waitPage(t *testing.T, ctx context.Context, within time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("dashboard: timed out after %v waiting for %s (last error %v); the page reads:\n%s", within, what, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
