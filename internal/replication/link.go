package replication

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"granary/internal/engine"
	"granary/internal/routing"
	"granary/internal/yield"
)

// batchBytes bounds the records of one frame.
const batchBytes = 256 << 10

// link is a primary's stream to one peer that is a secondary of some of its
// buckets. One goroutine connects, catches the peer up and streams; another
// reads the peer's acknowledgements and pongs.
type link struct {
	r    *Replicator
	peer string

	acked      [routing.Buckets]atomic.Uint64 // LSN the peer acknowledged, per bucket
	leaseUntil atomic.Int64                   // Mono ms
	lastOK     atomic.Int64                   // Mono ms of the last pong or ack
	ackedPos   atomic.Uint64                  // log position up to which the peer acknowledged
	// refused is set when the peer's port refused a connection since its
	// last pong: its process is gone, no need to wait out the lease.
	refused atomic.Bool
	// caught is set per bucket once the peer acknowledged the end of the
	// bucket's catch-up on the current connection (migration reports it).
	caught [routing.Buckets]atomic.Bool

	// peerEpoch is the table epoch the peer held at its last pong.
	peerEpoch atomic.Uint64

	mu    sync.Mutex
	addr  string
	terms map[uint16]uint64 // the buckets to stream, with their primary terms
	// list and listTerms are the buckets (ascending) and terms of the last
	// configure: an unchanged configuration is found without a map.
	list      []uint16
	listTerms []uint64
	epoch     uint64        // of the table the configuration comes from
	kick      chan struct{} // reconnect with the new configuration
	grow      chan struct{} // buckets were added or removed: adjust in the session
	cancel    context.CancelFunc

	resync resyncQueue // buckets to send again as snapshots (repairs)
}

func newLink(r *Replicator, peer string) *link {
	ctx, cancel := context.WithCancel(context.Background())
	l := &link{r: r, peer: peer, cancel: cancel, kick: make(chan struct{}, 1), grow: make(chan struct{}, 1), resync: newResyncQueue()}
	l.lastOK.Store(Mono())
	go l.run(ctx)
	return l
}

// configure sets what the link streams. A new address or a new term of a
// bucket it streams makes it reconnect and catch the peer up again; buckets
// added or removed are handled within the connection (a migration adds a
// learner's bucket at every step: reconnecting would hold up the leases of
// every bucket the link carries).
func (l *link) configure(addr string, buckets []uint16, terms []uint64, epoch uint64) {
	l.mu.Lock()
	if addr == l.addr && slices.Equal(buckets, l.list) && slices.Equal(terms, l.listTerms) {
		// The usual case in a migration step: nothing for this link.
		l.epoch = epoch
		l.mu.Unlock()
		return
	}
	l.list, l.listTerms = buckets, terms
	l.mu.Unlock()
	m := make(map[uint16]uint64, len(buckets))
	for i, b := range buckets {
		m[b] = terms[i]
	}
	l.mu.Lock()
	restart := addr != l.addr
	grown := len(m) != len(l.terms)
	for b, t := range m {
		old, ok := l.terms[b]
		switch {
		case !ok:
			grown = true
		case old != t:
			restart = true
		}
	}
	l.addr, l.terms, l.epoch = addr, m, epoch
	l.mu.Unlock()
	ch := l.grow
	if restart {
		ch = l.kick
	} else if !grown {
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (l *link) stop() { l.cancel() }

// configuration returns the peer's address, the buckets to stream with
// their terms (not to be changed), and the epoch of the table they come from.
func (l *link) configuration() (addr string, terms map[uint16]uint64, epoch uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr, l.terms, l.epoch
}

// run connects and streams until stopped, backing off after failures.
func (l *link) run(ctx context.Context) {
	backoff := 20 * time.Millisecond
	for ctx.Err() == nil {
		select {
		case <-l.kick: // the session below starts from the newest configuration anyway
		default:
		}
		select {
		case <-l.grow:
		default:
		}
		err := l.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errKicked) {
			backoff = 20 * time.Millisecond
			continue
		}
		l.r.stats.LinkResets.Add(1)
		l.r.slog.Debug("replication link down", "peer", l.peer, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		case <-l.kick:
		}
		backoff = min(backoff*2, l.r.opts.Lease/2)
	}
}

var errKicked = errors.New("replication: configuration changed")

// pendingFrame is a sent frame awaiting its ack, with the LSNs the ack
// confirms.
type pendingFrame struct {
	seq  uint64
	pos  uint64 // log position the frame brings the peer to (0: none)
	lsns []bucketLSN
	sent int64 // Mono ms, for pings
	ping bool
	// caught lists the buckets whose catch-up the frame ends.
	caught []uint16
}

type bucketLSN struct {
	b   uint16
	lsn uint64
}

// conn is one connection's sending state.
type sender struct {
	// moveFrom and moveSent pace the snapshots of buckets added in the
	// session (Options.MoveRate): bytes sent since moveFrom (Mono ms).
	moveFrom, moveSent, moveLast int64
	sent                         int64 // bytes of frames written
	l                            *link
	nc                           net.Conn
	w                            *bufio.Writer
	seq                          uint64
	pos                          uint64  // log position streamed up to
	out                          []byte  // frame being built (writeFrame copies it out)
	idx                          []int32 // per bucket: 1 + its index in the frame's LSN list, 0: none
	mu                           sync.Mutex
	wait                         []pendingFrame
	buf                          []byte
	// spare holds snapshot frames already sent, for the next snapshots:
	// a move streams gigabytes through a few buffers instead of leaving
	// each behind as garbage, whose fresh pages cost a fault each while
	// the heap grows (10 us apiece on a virtual machine).
	spare [][]byte
}

// maxSpare bounds the frames a sender keeps between snapshots.
const maxSpare = 4

// snapFrame returns an empty snapshot frame of bucket b: a spare one if
// there is, else a new one with room for size bytes.
func (s *sender) snapFrame(b uint16, size int) []byte {
	var f []byte
	if n := len(s.spare); n > 0 {
		f, s.spare = s.spare[n-1][:10], s.spare[:n-1]
	} else {
		f = make([]byte, 10, size)
	}
	binary.BigEndian.PutUint16(f[8:], b)
	return f
}

// recycle keeps sent full-size frames for later snapshots.
func (s *sender) recycle(frames [][]byte) {
	for _, f := range frames {
		if len(s.spare) == maxSpare {
			return
		}
		if cap(f) >= batchBytes {
			s.spare = append(s.spare, f)
		}
	}
}

func (s *sender) frame(kind byte, payload []byte, lsns []bucketLSN, ping bool) error {
	return s.frameEnding(kind, payload, lsns, ping, nil)
}

// frameEnding sends a frame that ends the catch-up of the buckets caught.
func (s *sender) frameEnding(kind byte, payload []byte, lsns []bucketLSN, ping bool, caught []uint16) error {
	s.seq++
	s.mu.Lock()
	s.wait = append(s.wait, pendingFrame{seq: s.seq, pos: s.pos, lsns: lsns, sent: Mono(), ping: ping, caught: caught})
	s.mu.Unlock()
	binary.BigEndian.PutUint64(payload[:8], s.seq)
	s.l.r.stats.BytesSent.Add(uint64(len(payload) + 5))
	s.sent += int64(len(payload) + 5)
	return writeFrame(s.w, kind, payload)
}

// session is one connection: handshake, catch-up, stream.
func (l *link) session(ctx context.Context) error {
	addr, terms, _ := l.configuration()
	terms = maps.Clone(terms) // the session's own: adjust changes it
	buckets := make([]uint16, 0, len(terms))
	for b := range terms {
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	r := l.r
	d := net.Dialer{Timeout: r.opts.Lease}
	if r.opts.SourceAddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(r.opts.SourceAddr)}
	}
	var nc net.Conn
	var err error
	if r.opts.TLS != nil {
		// The handshake is bounded by the dialer's timeout too.
		nc, err = (&tls.Dialer{NetDialer: &d, Config: r.opts.TLS}).DialContext(ctx, "tcp", addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			l.refused.Store(true)
		}
		return err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	br := bufio.NewReaderSize(nc, 64<<10)
	w := bufio.NewWriterSize(nc, 256<<10)

	// Upgrade the RESP connection.
	nc.SetDeadline(time.Now().Add(2 * r.opts.Lease))
	fmt.Fprintf(w, "*3\r\n$12\r\nGRANARY.REPL\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(r.opts.Secret), r.opts.Secret, len(r.opts.Self), r.opts.Self)
	if err := w.Flush(); err != nil {
		return err
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+OK\r\n" {
		return fmt.Errorf("replication: peer refused the link: %q", line)
	}
	var hello [8]byte
	binary.BigEndian.PutUint64(hello[:], r.epoch.Load())
	// The log position from which the stream takes over from catch-up.
	cursor := r.log.endPos()
	if err := writeFrame(w, fHello, hello[:]); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	kind, payload, _, err := readFrame(br, nil)
	if err != nil {
		return err
	}
	if kind == fReject {
		return fmt.Errorf("replication: peer refused: %s", payload[min(2, len(payload)):])
	}
	if kind != fState || len(payload) != routing.Buckets*stateEntry {
		return fmt.Errorf("replication: expected the peer's state")
	}
	state := make([]peerState, routing.Buckets)
	for b := range state {
		p := payload[b*stateEntry:]
		state[b] = peerState{lsn: binary.BigEndian.Uint64(p), term: binary.BigEndian.Uint64(p[8:]), held: p[16] == 1}
	}
	nc.SetDeadline(time.Time{})

	s := &sender{l: l, nc: nc, w: w, pos: cursor}
	for b := range l.acked {
		l.acked[b].Store(0)
		l.caught[b].Store(false)
	}
	replay, snaps, equal, empty := l.plan(buckets, state)
	cur := r.cur.Load()
	for _, b := range equal {
		l.acked[b].Store(state[b].lsn)
		if r.recompute(cur, b) {
			r.signal()
		}
	}
	for b, from := range replay {
		l.acked[b].Store(from)
	}

	errc := make(chan error, 1)
	go func() { errc <- l.readAcks(br, s) }()
	// Ask for the lease first: the peer answers it before it applies the
	// catch-up, so the buckets this node leads with that peer serve at once.
	if err := s.ping(); err != nil {
		return err
	}

	wake := r.log.subscribe()
	defer r.log.unsubscribe(wake)
	// Empty buckets in frames of many, per term.
	byTerm := map[uint64][]uint16{}
	for _, b := range empty {
		byTerm[cur.lead[b]] = append(byTerm[cur.lead[b]], b)
	}
	for term, bs := range byTerm {
		p := make([]byte, 16, 16+2*len(bs))
		binary.BigEndian.PutUint64(p[8:], term)
		lsns := make([]bucketLSN, len(bs))
		for i, b := range bs {
			p = binary.BigEndian.AppendUint16(p, b)
			lsns[i] = bucketLSN{b, 0}
		}
		if err := s.frameEnding(fEmpty, p, lsns, false, bs); err != nil {
			return err
		}
	}
	// Equal buckets: tell the peer they are caught up.
	for _, b := range equal {
		if err := s.synced(b, cur.lead[b]); err != nil {
			return err
		}
	}
	if len(replay) > 0 {
		if err := s.replay(replay, cursor); err != nil {
			return err
		}
	}
	if err := s.w.Flush(); err != nil {
		return err
	}
	inSet := make([]bool, routing.Buckets)
	for _, b := range buckets {
		inSet[b] = true
	}
	for _, b := range snaps {
		if err := s.snapshot(b); err != nil {
			return err
		}
		if err := s.maybePing(); err != nil {
			return err
		}
	}
	ping := time.NewTicker(r.opts.Lease / 4)
	defer ping.Stop()
	if err := s.ping(); err != nil {
		return err
	}
	growing := false
	for {
		if growing {
			var err error
			if growing, err = s.adjust(terms, inSet); err != nil {
				return err
			}
		}
		if err := s.stream(&cursor, inSet); err != nil {
			return err
		}
		if err := s.w.Flush(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case <-l.kick:
			return errKicked
		case <-l.grow:
			growing = true
		case <-ping.C:
			if err := s.ping(); err != nil {
				return err
			}
		case <-l.resync.wake:
			if err := s.resend(inSet); err != nil {
				return err
			}
		case <-wake:
		}
	}
}

// plan decides each bucket's catch-up from the peer's state.
func (l *link) plan(buckets []uint16, state []peerState) (replay map[uint16]uint64, snaps, equal, empty []uint16) {
	r := l.r
	replay = map[uint16]uint64{}
	for _, b := range buckets {
		bs := &r.b[b]
		ps := state[b]
		bs.mu.Lock()
		my := bs.lsn.Load()
		t, known := bs.termAt(ps.lsn)
		ok := ps.held && bs.held && known && t == ps.term && ps.lsn <= my
		switch {
		case ok && ps.lsn == my:
			equal = append(equal, b)
			r.stats.CatchupNone.Add(1)
		case ok && ps.lsn+1 >= bs.replayFrom.Load():
			replay[b] = ps.lsn
			r.stats.CatchupReplay.Add(1)
		case bs.held && my == 0:
			// Never written: the peer only needs to drop what it has.
			empty = append(empty, b)
			r.stats.CatchupEmpty.Add(1)
		default:
			snaps = append(snaps, b)
			r.stats.CatchupSnapshot.Add(1)
		}
		bs.mu.Unlock()
	}
	return replay, snaps, equal, empty
}

// synced tells the peer it holds a prefix of bucket b's history in term.
func (s *sender) synced(b uint16, term uint64) error {
	p := make([]byte, 18)
	binary.BigEndian.PutUint16(p[8:], b)
	binary.BigEndian.PutUint64(p[10:], term)
	return s.frameEnding(fSynced, p, nil, false, []uint16{b})
}

// replay sends the records the peer misses from the log, up to cursor, and
// then marks those buckets caught up.
func (s *sender) replay(from map[uint16]uint64, cursor uint64) error {
	r := s.l.r
	start, _ := r.log.bounds()
	resetPos := map[uint16]uint64{}
	for b := range from {
		bs := &r.b[b]
		bs.mu.Lock()
		resetPos[b] = bs.resetPos
		bs.mu.Unlock()
	}
	pos := start
	var chunk []byte
	for pos < cursor {
		var ok bool
		var next uint64
		chunk, next, ok = r.log.read(pos, cursor, chunk[:0], batchBytes)
		if !ok {
			return errors.New("replication: log trimmed during replay")
		}
		at := pos
		out := append(s.buf[:0], make([]byte, 8)...)
		var lsns []bucketLSN
		for off := 0; off < len(chunk); {
			b, lsn, n := peekBucketLSN(chunk[off:])
			if f, ok := from[b]; ok && lsn > f && at >= resetPos[b] {
				out = append(out, chunk[off:off+n]...)
				lsns = append(lsns, bucketLSN{b, lsn})
				r.stats.RecordsSent.Add(1)
			}
			off += n
			at += uint64(n)
		}
		if len(lsns) > 0 {
			if err := s.frame(fBatch, out, lsns, false); err != nil {
				return err
			}
		}
		s.buf = out
		pos = next
	}
	cur := r.cur.Load()
	for b := range from {
		if err := s.synced(b, cur.lead[b]); err != nil {
			return err
		}
	}
	return nil
}

// snapshot streams bucket b's items from every namespace, under the
// bucket's lock (writes to it wait; a bucket is 1/16384 of the data).
func (s *sender) snapshot(b uint16) error {
	r := s.l.r
	bs := &r.b[b]
	term := r.cur.Load().lead[b]
	begin := make([]byte, 18)
	binary.BigEndian.PutUint16(begin[8:], b)
	binary.BigEndian.PutUint64(begin[10:], term)

	var frames [][]byte
	// A spare frame, or a small one to start with, as most buckets of a
	// large table are small: a new frame of batchBytes per bucket would
	// cost its clearing and GC work. Past smallFrame, one move to a
	// full-size frame.
	const smallFrame = 16 << 10
	cur := s.snapFrame(b, smallFrame)
	now := time.Now().UnixMilli()
	bs.mu.Lock()
	// Listed under the lock: a namespace created since is in it if it
	// could have written to the bucket.
	nss := r.namespaces()
	lsn := bs.lsn.Load()
	// The term the entry at lsn was written in (not the current one): the
	// copy's history must read the same as this node's, for catch-up plans
	// and for verify.
	entryTerm, ok := bs.termAt(lsn)
	if !ok {
		entryTerm = term
	}
	for _, ns := range nss {
		func() {
			inner(ns.Engine).ScanBucket(b, now, func(key []byte, it *engine.Item) bool {
				rec := record{kind: recPut, ns: ns.ID, bucket: b, key: key, item: *it}
				if len(cur) >= smallFrame*3/4 && cap(cur) < batchBytes {
					cur = append(s.snapFrame(b, batchBytes+1024)[:0], cur...)
				}
				cur = rec.appendTo(cur)
				if len(cur) >= batchBytes {
					frames = append(frames, cur)
					cur = s.snapFrame(b, batchBytes+1024)
				}
				return true
			})
		}()
	}
	bs.mu.Unlock()
	if len(cur) > 10 {
		frames = append(frames, cur)
	}
	if err := s.frame(fSnapBegin, begin, nil, false); err != nil {
		return err
	}
	for _, f := range frames {
		if err := s.frame(fSnapData, f, nil, false); err != nil {
			return err
		}
	}
	s.recycle(frames)
	end := make([]byte, 34)
	binary.BigEndian.PutUint16(end[8:], b)
	binary.BigEndian.PutUint64(end[10:], lsn)
	binary.BigEndian.PutUint64(end[18:], term)
	binary.BigEndian.PutUint64(end[26:], entryTerm)
	return s.frameEnding(fSnapEnd, end, []bucketLSN{{b, lsn}}, false, []uint16{b})
}

// stream sends the log's new records of the link's buckets. A frame's ack
// confirms, per bucket, the highest LSN it carried: one entry per bucket.
func (s *sender) stream(cursor *uint64, inSet []bool) error {
	r := s.l.r
	if s.idx == nil {
		s.idx = make([]int32, len(inSet))
	}
	for {
		end := r.log.endPos()
		if *cursor >= end {
			return nil
		}
		chunk, next, ok := r.log.read(*cursor, end, s.buf[:0], batchBytes)
		if !ok {
			return errors.New("replication: peer fell behind the log")
		}
		out := append(s.out[:0], make([]byte, 8)...)
		var lsns []bucketLSN
		sent := 0
		for off := 0; off < len(chunk); {
			b, lsn, n := peekBucketLSN(chunk[off:])
			if inSet[b] {
				out = append(out, chunk[off:off+n]...)
				if i := s.idx[b]; i > 0 {
					lsns[i-1].lsn = lsn
				} else {
					lsns = append(lsns, bucketLSN{b, lsn})
					s.idx[b] = int32(len(lsns))
				}
				sent++
			}
			off += n
		}
		for _, x := range lsns {
			s.idx[x.b] = 0
		}
		r.stats.RecordsSent.Add(uint64(sent))
		s.buf, s.out = chunk, out
		*cursor = next
		s.pos = next
		if len(lsns) > 0 {
			if err := s.frame(fBatch, out, lsns, false); err != nil {
				return err
			}
		}
	}
}

// ping asks for a lease, naming the table this node holds now (which may
// be newer than the one the session started with).
func (s *sender) ping() error {
	p := make([]byte, 16)
	binary.BigEndian.PutUint64(p[8:], s.l.r.epoch.Load())
	return s.frame(fPing, p, nil, true)
}

// maybePing pings when the last ping is older than a quarter lease (during
// a long catch-up).
func (s *sender) maybePing() error {
	s.mu.Lock()
	last := int64(0)
	for i := len(s.wait) - 1; i >= 0; i-- {
		if s.wait[i].ping {
			last = s.wait[i].sent
			break
		}
	}
	s.mu.Unlock()
	if Mono()-last < s.l.r.lease/4 {
		return nil
	}
	if err := s.ping(); err != nil {
		return err
	}
	return s.w.Flush()
}

// readAcks handles the peer's frames until the connection fails.
func (l *link) readAcks(br *bufio.Reader, s *sender) error {
	r := l.r
	var buf []byte
	for {
		s.nc.SetReadDeadline(time.Now().Add(3 * r.opts.Lease))
		kind, payload, nb, err := readFrame(br, buf)
		buf = nb
		if err != nil {
			s.nc.Close()
			return err
		}
		switch kind {
		case fAck, fPong:
			if len(payload) < 8 {
				s.nc.Close()
				return errors.New("replication: short ack")
			}
			seq := binary.BigEndian.Uint64(payload)
			l.lastOK.Store(Mono())
			l.refused.Store(false)
			if kind == fPong {
				// A pong answers its ping as soon as the peer reads it,
				// ahead of the frames it still applies: it grants the
				// lease and acknowledges no data.
				if len(payload) >= 17 {
					l.peerEpoch.Store(binary.BigEndian.Uint64(payload[9:]))
				}
				granted := len(payload) > 8 && payload[8] == 1
				s.mu.Lock()
				for _, f := range s.wait {
					if f.seq == seq && f.ping {
						if u := f.sent + r.lease; granted && u > l.leaseUntil.Load() {
							l.leaseUntil.Store(u)
						}
						break
					}
				}
				// Pings nothing unacknowledged precedes are done with.
				i := 0
				for i < len(s.wait) && s.wait[i].ping && s.wait[i].seq <= seq {
					i++
				}
				s.wait = s.wait[i:]
				s.mu.Unlock()
				if granted {
					r.refreshGates()
				}
				continue
			}
			s.mu.Lock()
			i := 0
			cur := r.cur.Load()
			advanced, news := false, false
			for ; i < len(s.wait) && s.wait[i].seq <= seq; i++ {
				f := &s.wait[i]
				for _, x := range f.lsns {
					a := &l.acked[x.b]
					if x.lsn > a.Load() {
						a.Store(x.lsn)
					}
					if r.recompute(cur, x.b) {
						advanced = true
					}
					if cur.t.Frozen[x.b] && x.lsn >= r.b[x.b].lsn.Load() {
						news = true // a copy of a bucket handed over is level
					}
				}
				for _, b := range f.caught {
					l.caught[b].Store(true)
					news = true
				}
				if f.pos > l.ackedPos.Load() {
					l.ackedPos.Store(f.pos)
				}
			}
			s.wait = s.wait[i:]
			s.mu.Unlock()
			if advanced {
				r.signal()
			}
			if news {
				r.moveNews()
			}
		case fReject:
			r.stats.Rejected.Add(1)
			s.nc.Close()
			msg := ""
			if len(payload) > 2 {
				msg = string(payload[2:])
			}
			return fmt.Errorf("replication: peer rejected bucket %d: %s", binary.BigEndian.Uint16(payload), msg)
		default:
			s.nc.Close()
			return fmt.Errorf("replication: unexpected frame %d from the peer", kind)
		}
	}
}

// adjust brings a session to the link's configuration when buckets were
// added or removed (terms, the session's buckets, and inSet change with it):
// a removed bucket stops streaming; an added one is caught up within the
// session by a snapshot (or an empty reset) and streams from then on. The
// records the stream sends next that the snapshot already holds are
// skipped by the peer, which applies a bucket's records in LSN order. It
// waits (reports true: call again) until the peer holds a table as new as
// the configuration's, so that it accepts the bucket's frames.
func (s *sender) adjust(terms map[uint16]uint64, inSet []bool) (bool, error) {
	l, r := s.l, s.l.r
	_, want, epoch := l.configuration()
	for b, t := range terms {
		nt, ok := want[b]
		switch {
		case !ok:
			delete(terms, b)
			inSet[b] = false
			l.acked[b].Store(0)
			l.caught[b].Store(false)
		case nt != t:
			return false, errKicked
		}
	}
	var added []uint16
	for b := range want {
		if _, ok := terms[b]; !ok {
			added = append(added, b)
		}
	}
	if len(added) == 0 {
		return false, nil
	}
	if l.peerEpoch.Load() < epoch {
		return true, nil
	}
	rate := r.opts.MoveRate
	slices.Sort(added)
	cur := r.cur.Load()
	var y yield.Budget
	for _, b := range added {
		if rate > 0 && s.movePaced(rate) {
			// Over the budget: let the stream run, go on at a later turn.
			return true, s.w.Flush()
		}
		if cur.lead[b] != want[b] {
			return false, errKicked // the table moved on: start over
		}
		l.acked[b].Store(0)
		l.caught[b].Store(false)
		before := s.sent
		bs := &r.b[b]
		bs.mu.Lock()
		empty := bs.held && bs.lsn.Load() == 0
		bs.mu.Unlock()
		if empty {
			p := make([]byte, 16, 18)
			binary.BigEndian.PutUint64(p[8:], want[b])
			p = binary.BigEndian.AppendUint16(p, b)
			r.stats.CatchupEmpty.Add(1)
			if err := s.frameEnding(fEmpty, p, []bucketLSN{{b, 0}}, false, []uint16{b}); err != nil {
				return false, err
			}
		} else {
			r.stats.CatchupSnapshot.Add(1)
			if err := s.snapshot(b); err != nil {
				return false, err
			}
		}
		s.moveSent += s.sent - before
		r.stats.MoveBytes.Add(uint64(s.sent - before))
		// Snapshots of many buckets may all fit the socket's buffers:
		// on one core (--procs 1), clients must get their turn.
		y.Check()
		terms[b] = want[b]
		inSet[b] = true
		if err := s.maybePing(); err != nil {
			return false, err
		}
	}
	return false, s.w.Flush()
}

// movePaced reports whether the in-session snapshots sent lately exceed
// rate bytes per second. The budget starts afresh after a second without
// any, so an idle link builds up no burst.
func (s *sender) movePaced(rate int64) bool {
	now := Mono()
	if s.moveFrom == 0 || now-s.moveLast > 1000 {
		s.moveFrom, s.moveSent = now, 0
	}
	s.moveLast = now
	return s.moveSent > rate*max(now-s.moveFrom, 1)/1000
}
