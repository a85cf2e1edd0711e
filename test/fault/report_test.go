//go:build fault

package fault

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// faultEvent is one injected fault: start is when it hit (the signal, the
// cut), end when it was undone (restart begun, SIGCONT, heal), healed when the
// cluster was healthy again, promoted when the config servers stopped naming
// the faulty data server as a primary (0: they did not, or not a data server
// fault); all now().
type faultEvent struct {
	kind, target, detail         string
	start, end, healed, promoted int64
}

// outcome is what one namespace's workload saw during one fault kind.
type outcome struct {
	kind, mode                 string
	ops, ok, failed, timedOut  int
	sets, setsOK, gets, getsOK int
	lin                        linResult
	viz                        []string
	acked, lost, unread        int
	ghosts, badGhosts          int
	lostExamples               []string
	illegalNotes               []string
	gaps                       []gap // per fault: the longest write unavailability
	readErrs                   []string
	firstErrors                map[string]int // error text (numbers as N, shortened) -> count
	ineffective                string         // why the faults did not do what they say
	replLag                    []string       // replication lag metrics seen
}

// gap is a fault's longest write unavailability over the registers: the gap
// between the acknowledged SETs of a key on either side of the fault's start.
type gap struct {
	event faultEvent
	d     time.Duration
	key   string
}

// writeGaps measures, for each fault, every register's gap between its last
// acknowledged SET (by response time) before the fault hit and its first one
// after, and keeps the longest over the keys.
func writeGaps(ops []op, events []faultEvent) []gap {
	byKey := map[string][]int64{}
	for _, o := range ops {
		if o.kind == opSet && o.status == stOK {
			byKey[o.key] = append(byKey[o.key], o.ret)
		}
	}
	for _, rs := range byKey {
		sort.Slice(rs, func(i, j int) bool { return rs[i] < rs[j] })
	}
	var out []gap
	for _, e := range events {
		g := gap{event: e}
		for k, rs := range byKey {
			i := sort.Search(len(rs), func(i int) bool { return rs[i] > e.start })
			if i == 0 || i == len(rs) {
				continue
			}
			if d := time.Duration(rs[i] - rs[i-1]); d > g.d {
				g.d, g.key = d, k
			}
		}
		out = append(out, g)
	}
	return out
}

// medianMax returns the median and the maximum of ds.
func medianMax(ds []time.Duration) (median, max time.Duration) {
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

// digits are numbers in error texts (buckets, addresses), which count
// groups the errors without.
var digits = regexp.MustCompile(`[0-9]+`)

// count fills the operation counts.
func (o *outcome) count(ops []op) {
	o.firstErrors = map[string]int{}
	for _, x := range ops {
		o.ops++
		switch x.status {
		case stOK:
			o.ok++
		case stFailed:
			o.failed++
		case stTimeout:
			o.timedOut++
		}
		if x.err != "" {
			e := digits.ReplaceAllString(x.err, "N")
			if len(e) > 70 {
				e = e[:70]
			}
			o.firstErrors[e]++
		}
		switch x.kind {
		case opSet, opOnce:
			o.sets++
			if x.status == stOK {
				o.setsOK++
			}
		case opGet:
			o.gets++
			if x.status == stOK {
				o.getsOK++
			}
		}
	}
}

// log prints the outcome.
func (o *outcome) log(t *testing.T) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "== %s, %s namespace\n", o.kind, o.mode)
	fmt.Fprintf(&b, "   operations: %d (%d ok, %d failed, %d timed out); SETs %d/%d ok, GETs %d/%d ok\n",
		o.ops, o.ok, o.failed, o.timedOut, o.setsOK, o.sets, o.getsOK, o.gets)
	if len(o.firstErrors) > 0 {
		type ec struct {
			e string
			n int
		}
		var es []ec
		for e, n := range o.firstErrors {
			es = append(es, ec{e, n})
		}
		sort.Slice(es, func(i, j int) bool { return es[i].n > es[j].n })
		for i, e := range es {
			if i == 4 {
				fmt.Fprintf(&b, "     ... %d more kinds of error\n", len(es)-4)
				break
			}
			fmt.Fprintf(&b, "     %6d x %s\n", e.n, e.e)
		}
	}
	fmt.Fprintf(&b, "   porcupine: %s (%d keys not linearizable, %d unknown; checked in %v)\n", o.lin.result,
		len(o.lin.illegal), len(o.lin.unknown), o.lin.took.Round(time.Millisecond))
	for _, n := range o.illegalNotes {
		fmt.Fprintf(&b, "     %s\n", n)
	}
	for _, v := range o.viz {
		fmt.Fprintf(&b, "     visualization: %s\n", v)
	}
	fmt.Fprintf(&b, "   lost acknowledged writes: %d of %d write-once keys acknowledged (%d not read back); %d failed writes took effect (%d of them refused for sure)\n",
		o.lost, o.acked, o.unread, o.ghosts, o.badGhosts)
	for _, e := range o.lostExamples {
		fmt.Fprintf(&b, "     %s\n", e)
	}
	for _, e := range o.readErrs {
		fmt.Fprintf(&b, "   read-back: %s\n", e)
	}
	for _, g := range o.gaps {
		promoted := ""
		if g.event.promoted > 0 {
			promoted = fmt.Sprintf("; its buckets' primaries moved away after %v", time.Duration(g.event.promoted-g.event.start).Round(time.Millisecond))
		}
		fmt.Fprintf(&b, "   %s %s at %s: longest write unavailability %v (%s)%s; healthy again at %s\n",
			g.event.kind, g.event.target, at(g.event.start), g.d.Round(time.Millisecond), orDash(g.key), promoted, at(g.event.healed))
	}
	if ds := o.gapDurations(); len(ds) > 1 {
		med, max := medianMax(ds)
		fmt.Fprintf(&b, "   write unavailability over %d faults: median %v, max %v\n", len(ds), med.Round(time.Millisecond), max.Round(time.Millisecond))
	}
	for _, l := range o.replLag {
		fmt.Fprintf(&b, "   replication lag: %s\n", l)
	}
	if o.ineffective != "" {
		fmt.Fprintf(&b, "   NOTE: %s\n", o.ineffective)
	}
	t.Log(strings.TrimRight(b.String(), "\n"))
}

func (o *outcome) gapDurations() []time.Duration {
	var ds []time.Duration
	for _, g := range o.gaps {
		ds = append(ds, g.d)
	}
	return ds
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// summary prints one line per outcome, and the failover times of the
// data server kills.
func summary(t *testing.T, outs []*outcome) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %-6s %9s %8s %8s %-10s %12s %8s %s\n", "fault", "ns", "ops", "failed", "timeout",
		"porcupine", "lost/acked", "ghosts", "write gap median/max")
	kills := map[string][]time.Duration{}
	for _, o := range outs {
		med, max := medianMax(o.gapDurations())
		lin := string(o.lin.result)
		if o.lin.result == porcupine.Illegal {
			lin += fmt.Sprintf("(%d)", len(o.lin.illegal))
		}
		fmt.Fprintf(&b, "%-12s %-6s %9d %8d %8d %-10s %12s %8d %v/%v\n", o.kind, o.mode, o.ops, o.failed, o.timedOut,
			lin, strconv.Itoa(o.lost)+"/"+strconv.Itoa(o.acked), o.ghosts, med.Round(time.Millisecond), max.Round(time.Millisecond))
		if o.kind == "kill" {
			kills[o.mode] = append(kills[o.mode], o.gapDurations()...)
		}
	}
	for _, mode := range []string{"sync", "async"} {
		if ds := kills[mode]; len(ds) > 0 {
			med, max := medianMax(ds)
			fmt.Fprintf(&b, "failover time after a data server SIGKILL (%s, longest write gap per kill over the keys), %d kills: median %v, max %v\n",
				mode, len(ds), med.Round(time.Millisecond), max.Round(time.Millisecond))
		}
	}
	t.Log("summary\n" + strings.TrimRight(b.String(), "\n"))
}

// ---------------------------------------------------------------------------
// Replication lag, from the data servers' /metrics

// scraper reads every data server's /metrics once a second and keeps, per
// series whose metric name contains "repl" and "lag", the last and the
// largest value; it also notes the names containing "repl".
type scraper struct {
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu    sync.Mutex
	lag   map[string]*lagSeries // "ds1 series{labels}"
	repl  map[string]bool       // metric names containing "repl"
	fails int
}

type lagSeries struct{ last, max float64 }

func startScraper(c *cluster) *scraper {
	s := &scraper{stop: make(chan struct{}), done: make(chan struct{}), lag: map[string]*lagSeries{}, repl: map[string]bool{}}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			for _, ds := range c.data {
				if ds.running() {
					s.scrape(ds)
				}
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *scraper) scrape(ds *dataServer) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ds.http+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.mu.Lock()
		s.fails++
		s.mu.Unlock()
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		series, val := l[:i], l[i+1:]
		name := series
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		lname := strings.ToLower(name)
		if !strings.Contains(lname, "repl") {
			continue
		}
		s.repl[name] = true
		if !strings.Contains(lname, "lag") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		key := ds.name + " " + series
		ls := s.lag[key]
		if ls == nil {
			ls = &lagSeries{max: math.Inf(-1)}
			s.lag[key] = ls
		}
		ls.last, ls.max = v, max(ls.max, v)
	}
}

// finish stops scraping (again: no-op) and returns what it saw, as report
// lines.
func (s *scraper) finish() []string {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lag) == 0 {
		var names []string
		for n := range s.repl {
			names = append(names, n)
		}
		sort.Strings(names)
		msg := "no metric whose name contains repl and lag on the data servers' /metrics"
		if len(names) > 0 {
			msg += " (metrics with repl: " + strings.Join(names, ", ") + ")"
		}
		return []string{msg}
	}
	var out []string
	for k, v := range s.lag {
		out = append(out, fmt.Sprintf("%s: max %g, last %g", k, v.max, v.last))
	}
	sort.Strings(out)
	return out
}
