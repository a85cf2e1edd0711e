package tracking

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeConn records what an Outbox does to its connection.
type fakeConn struct {
	wakes  atomic.Int32 // read deadlines set in the past
	clears atomic.Int32 // read deadlines cleared
	closed atomic.Bool
}

func (f *fakeConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		f.clears.Add(1)
	} else {
		f.wakes.Add(1)
	}
	return nil
}

func (f *fakeConn) Close() error { f.closed.Store(true); return nil }

// peer is a client of a test: its tracking client, outbox and connection.
type peer struct {
	c   *Client
	out *Outbox
	nc  *fakeConn
}

func newPeer(t *Table, id int64, proto int) *peer {
	p := &peer{out: &Outbox{}, nc: &fakeConn{}}
	p.out.Init(p.nc, 0)
	p.c = t.NewClient(id, p.out, proto)
	return p
}

// take returns the pushes waiting for p, rendered one per line.
func (p *peer) take() string { return render(p.out.Take(nil)) }

// render turns encoded pushes into a readable form: "inv k1", "inv *",
// "msg k1", "msg *", "broken 7".
func render(b []byte) string {
	var out []string
	s := string(b)
	for s != "" {
		switch {
		case strings.HasPrefix(s, ">2\r\n$10\r\ninvalidate\r\n_\r\n"):
			out, s = append(out, "inv *"), s[len(">2\r\n$10\r\ninvalidate\r\n_\r\n"):]
		case strings.HasPrefix(s, ">2\r\n$10\r\ninvalidate\r\n*1\r\n$"):
			k, rest := bulk(s[len(">2\r\n$10\r\ninvalidate\r\n*1\r\n"):])
			out, s = append(out, "inv "+k), rest
		case strings.HasPrefix(s, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"):
			out, s = append(out, "msg *"), s[len("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"):]
		case strings.HasPrefix(s, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n"):
			k, rest := bulk(s[len("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n"):])
			out, s = append(out, "msg "+k), rest
		case strings.HasPrefix(s, ">2\r\n$21\r\ntracking-redir-broken\r\n:"):
			s = s[len(">2\r\n$21\r\ntracking-redir-broken\r\n:"):]
			i := strings.Index(s, "\r\n")
			out, s = append(out, "broken "+s[:i]), s[i+2:]
		default:
			return strings.Join(out, ",") + fmt.Sprintf(",?%q", s)
		}
	}
	return strings.Join(out, ",")
}

func bulk(s string) (string, string) {
	i := strings.Index(s, "\r\n")
	var n int
	fmt.Sscanf(s[1:i], "%d", &n)
	return s[i+2 : i+2+n], s[i+2+n+2:]
}

func TestDefaultMode(t *testing.T) {
	tb := New(Options{})
	r, w := newPeer(tb, 1, 3), newPeer(tb, 2, 3)
	r.c.Enable(0, 0, nil)
	if tb.Watching() {
		t.Fatal("watching with nothing remembered")
	}
	tb.Remember(0, 10, []byte("k"), r.c)
	tb.Remember(0, 10, []byte("k"), r.c) // twice: one entry
	tb.Remember(1, 10, []byte("k"), r.c) // another namespace
	if st := tb.Stats(); st.Keys != 2 || st.Items != 2 || st.Clients != 1 {
		t.Fatalf("stats %+v", st)
	}
	tb.Invalidate(2, 10, []byte("k"), w.c) // namespace 2: nobody read it
	if got := r.take(); got != "" {
		t.Fatalf("namespace 2 write sent %q", got)
	}
	tb.Invalidate(0, 10, []byte("k"), w.c)
	if got := r.take(); got != "inv k" {
		t.Fatalf("after a write: %q", got)
	}
	if r.nc.wakes.Load() != 1 {
		t.Fatalf("wakes = %d, want 1", r.nc.wakes.Load())
	}
	tb.Invalidate(0, 10, []byte("k"), w.c) // forgotten after one invalidation
	if got := r.take(); got != "" {
		t.Fatalf("second write sent %q", got)
	}
	if st := tb.Stats(); st.Keys != 1 || st.Invalidations != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Tracking off: remembered keys are skipped when they change.
	r.c.Disable()
	tb.Invalidate(1, 10, []byte("k"), w.c)
	if got := r.take(); got != "" {
		t.Fatalf("after tracking off: %q", got)
	}
	if st := tb.Stats(); st.Keys != 0 || st.Items != 0 || st.Clients != 0 || tb.Watching() {
		t.Fatalf("stats %+v", st)
	}
}

func TestNoLoopAndSelf(t *testing.T) {
	tb := New(Options{})
	a := newPeer(tb, 1, 3)
	a.c.Enable(0, 0, nil)
	tb.Remember(0, 1, []byte("k"), a.c)
	tb.Invalidate(0, 1, []byte("k"), a.c)
	// Its own write: kept for the write's reply, not in the outbox.
	if got := render(a.c.TakeSelf()); got != "inv k" {
		t.Fatalf("self = %q", got)
	}
	if got := a.take(); got != "" {
		t.Fatalf("outbox = %q", got)
	}
	a.c.Enable(NoLoop, 0, nil)
	tb.Remember(0, 1, []byte("k"), a.c)
	tb.Invalidate(0, 1, []byte("k"), a.c)
	if got := render(a.c.TakeSelf()) + a.take(); got != "" {
		t.Fatalf("NOLOOP own write sent %q", got)
	}
	// Forgotten anyway, as Redis: another write sends nothing.
	tb.Invalidate(0, 1, []byte("k"), nil)
	if got := a.take(); got != "" {
		t.Fatalf("NOLOOP: %q", got)
	}
	tb.Remember(0, 1, []byte("k"), a.c)
	tb.Invalidate(0, 1, []byte("k"), nil)
	if got := a.take(); got != "inv k" {
		t.Fatalf("NOLOOP, other write: %q", got)
	}
}

func TestRedirect(t *testing.T) {
	tb := New(Options{})
	c := newPeer(tb, 1, 2)  // RESP2 tracking client
	s := newPeer(tb, 2, 2)  // its RESP2 subscriber
	r3 := newPeer(tb, 3, 3) // a RESP3 target
	c.c.Enable(0, 2, nil)
	tb.Remember(0, 1, []byte("k"), c.c)
	tb.Invalidate(0, 1, []byte("k"), nil)
	if got := s.take() + c.take(); got != "" {
		t.Fatalf("target not subscribed: %q", got)
	}
	s.c.SetSubscribed(true)
	tb.Remember(0, 1, []byte("k"), c.c)
	tb.Invalidate(0, 1, []byte("k"), nil)
	if got := s.take(); got != "msg k" {
		t.Fatalf("subscriber got %q", got)
	}
	tb.Flush(nil)
	if got := s.take(); got != "msg *" {
		t.Fatalf("flush: subscriber got %q", got)
	}
	// A RESP3 target gets pushes, subscribed or not.
	c.c.Enable(0, 3, nil)
	tb.Remember(0, 1, []byte("k"), c.c)
	tb.Invalidate(0, 1, []byte("k"), nil)
	if got := r3.take(); got != "inv k" {
		t.Fatalf("RESP3 target got %q", got)
	}
	// The target goes away: broken, and a RESP3 client is told.
	tb.Release(r3.c)
	c.c.SetProto(3)
	tb.Remember(0, 1, []byte("k"), c.c)
	tb.Invalidate(0, 1, []byte("k"), nil)
	if got := c.take(); got != "broken 3" {
		t.Fatalf("broken redirect: %q", got)
	}
	if c.c.Mode()&BrokenRedirect == 0 {
		t.Fatal("BrokenRedirect not set")
	}
	// RESP2 without a redirection: nothing can be sent.
	d := newPeer(tb, 4, 2)
	d.c.Enable(0, 0, nil)
	tb.Remember(0, 1, []byte("x"), d.c)
	tb.Invalidate(0, 1, []byte("x"), nil)
	if got := d.take(); got != "" {
		t.Fatalf("RESP2 got %q", got)
	}
}

func TestBcast(t *testing.T) {
	tb := New(Options{})
	a, b := newPeer(tb, 1, 3), newPeer(tb, 2, 3)
	a.c.Enable(BCast, 0, []string{"user:", "acct"})
	b.c.Enable(BCast|NoLoop, 0, nil) // every key
	if st := tb.Stats(); st.Prefixes != 3 || !tb.Watching() {
		t.Fatalf("stats %+v", st)
	}
	if got := strings.Join(a.c.Prefixes(), ","); got != "acct,user:" {
		t.Fatalf("prefixes %q", got)
	}
	for _, k := range []string{"user:1", "acct9", "other"} {
		tb.Invalidate(0, 1, []byte(k), b.c)
	}
	if got := a.take(); got != "inv user:1,inv acct9" {
		t.Fatalf("a got %q", got)
	}
	if got := b.take() + render(b.c.TakeSelf()); got != "" { // NOLOOP: its own writes
		t.Fatalf("b got %q", got)
	}
	tb.Invalidate(3, 1, []byte("other"), nil) // any namespace
	if got := b.take(); got != "inv other" {
		t.Fatalf("b got %q", got)
	}
	// A dropped bucket: BCAST clients drop everything, once.
	tb.BucketDropped(7)
	tb.BucketDropped(8)
	if got := a.take(); got != "inv *" {
		t.Fatalf("drop: a got %q", got)
	}
	// Keys remembered before a switch to BCAST are not sent.
	c := newPeer(tb, 3, 3)
	c.c.Enable(0, 0, nil)
	tb.Remember(0, 1, []byte("zz"), c.c)
	c.c.Disable()
	c.c.Enable(BCast, 0, []string{"q"})
	tb.Invalidate(0, 1, []byte("zz"), nil)
	if got := c.take(); got != "" {
		t.Fatalf("c got %q", got)
	}
	a.c.Disable()
	b.c.Disable()
	c.c.Disable()
	if st := tb.Stats(); st.Prefixes != 0 || tb.Watching() {
		t.Fatalf("stats after disable %+v", st)
	}
}

func TestBucketDroppedAndFlush(t *testing.T) {
	tb := New(Options{})
	a, b := newPeer(tb, 1, 3), newPeer(tb, 2, 3)
	a.c.Enable(0, 0, nil)
	b.c.Enable(OptIn, 0, nil)
	tb.Remember(0, 5, []byte("k1"), a.c)
	tb.Remember(4, 5, []byte("k2"), a.c)
	tb.Remember(0, 5, []byte("k1"), b.c)
	tb.Remember(0, 6, []byte("k3"), a.c)
	tb.BucketDropped(5)
	got := strings.Split(a.take(), ",")
	if len(got) != 2 || !strings.Contains(strings.Join(got, ","), "inv k1") || !strings.Contains(strings.Join(got, ","), "inv k2") {
		t.Fatalf("a got %v", got)
	}
	if got := b.take(); got != "inv k1" {
		t.Fatalf("b got %q", got)
	}
	if st := tb.Stats(); st.Keys != 1 || st.Items != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Flush: everyone tracking gets a null, the writer's own one is kept
	// for its reply; a null makes later invalidations redundant.
	tb.Flush(b.c)
	if got := a.take(); got != "inv *" {
		t.Fatalf("flush: a got %q", got)
	}
	if got := render(b.c.TakeSelf()); got != "inv *" {
		t.Fatalf("flush: b's own %q", got)
	}
	if st := tb.Stats(); st.Keys != 0 || st.Items != 0 {
		t.Fatalf("stats %+v", st)
	}
	tb.Flush(nil)
	tb.Remember(0, 1, []byte("x"), a.c)
	tb.Invalidate(0, 1, []byte("x"), nil)
	if got := a.take(); got != "inv *" {
		t.Fatalf("null then key: %q", got)
	}
}

func TestMaxKeys(t *testing.T) {
	tb := New(Options{MaxKeys: 10})
	a := newPeer(tb, 1, 3)
	a.c.Enable(0, 0, nil)
	for i := range 50 {
		tb.Remember(0, uint16(i*331), fmt.Appendf(nil, "k%d", i), a.c)
		if n := tb.Stats().Keys; n > 10 {
			t.Fatalf("after %d reads: %d keys", i+1, n)
		}
	}
	st := tb.Stats()
	if st.Evicted != 40 {
		t.Fatalf("evicted %d, want 40", st.Evicted)
	}
	if got := strings.Count(a.take(), "inv "); got != 40 {
		t.Fatalf("%d invalidations, want 40", got)
	}
	tb.SetMaxKeys(3)
	if st := tb.Stats(); st.Keys != 3 || st.Evicted != 47 {
		t.Fatalf("after lowering: %+v", st)
	}
	tb.SetMaxKeys(0) // unbounded
	for i := range 100 {
		tb.Remember(0, uint16(i), fmt.Appendf(nil, "u%d", i), a.c)
	}
	if st := tb.Stats(); st.Keys != 103 {
		t.Fatalf("unbounded: %+v", st)
	}
}

func TestManyReaders(t *testing.T) {
	tb := New(Options{})
	var ps []*peer
	for i := range 40 {
		p := newPeer(tb, int64(i+1), 3)
		p.c.Enable(0, 0, nil)
		tb.Remember(0, 1, []byte("hot"), p.c)
		tb.Remember(0, 1, []byte("hot"), p.c)
		ps = append(ps, p)
	}
	if st := tb.Stats(); st.Items != 40 {
		t.Fatalf("items %d", st.Items)
	}
	tb.Invalidate(0, 1, []byte("hot"), nil)
	for _, p := range ps {
		if got := p.take(); got != "inv hot" {
			t.Fatalf("client %d got %q", p.c.ID, got)
		}
	}
}

func TestOutboxLimit(t *testing.T) {
	tb := New(Options{MaxKeys: -1})
	p := &peer{out: &Outbox{}, nc: &fakeConn{}}
	p.out.Init(p.nc, 1000)
	p.c = tb.NewClient(1, p.out, 3)
	p.c.Enable(0, 0, nil)
	for i := 0; !p.nc.closed.Load(); i++ {
		if i > 1000 {
			t.Fatal("never closed")
		}
		k := fmt.Appendf(nil, "key:%d", i)
		tb.Remember(0, 1, k, p.c)
		tb.Invalidate(0, 1, k, nil)
	}
	if !p.out.Overflowed() || p.out.Pending() != 0 {
		t.Fatalf("overflowed %v pending %d", p.out.Overflowed(), p.out.Pending())
	}
	if p.nc.wakes.Load() != 1 {
		t.Fatalf("%d wakes, want 1 (until taken)", p.nc.wakes.Load())
	}
}

// TestConcurrent runs readers, writers, drops and flushes at once (for the
// race detector) and checks the counters return to zero.
func TestConcurrent(t *testing.T) {
	tb := New(Options{MaxKeys: 200})
	var ps []*peer
	for i := range 8 {
		p := newPeer(tb, int64(i+1), 3)
		mode := Mode(0)
		if i%4 == 3 {
			mode = BCast
		}
		p.c.Enable(mode, 0, nil)
		ps = append(ps, p)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := ps[g]
			for i := range 3000 {
				k := fmt.Appendf(nil, "k%d", i%300)
				b := uint16(i % 300)
				switch i % 7 {
				case 0, 1, 2:
					tb.Remember(uint16(i%2), b, k, p.c)
				case 3, 4:
					tb.Invalidate(uint16(i%2), b, k, p.c)
					p.c.TakeSelf()
				case 5:
					tb.BucketDropped(b)
				case 6:
					if i%500 == 6 {
						tb.Flush(nil)
					}
					p.take()
				}
			}
		}()
	}
	wg.Wait()
	tb.Flush(nil)
	if st := tb.Stats(); st.Keys != 0 || st.Items != 0 {
		t.Fatalf("stats after flush %+v", st)
	}
}
