package replication

import (
	"bufio"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"granary/internal/engine"
	"granary/internal/routing"
	"granary/internal/yield"
)

// Accept checks a link's credentials (GRANARY.REPL secret id).
func (r *Replicator) Accept(secret, peer string) bool {
	return subtle.ConstantTimeCompare([]byte(secret), []byte(r.opts.Secret)) == 1 && peer != r.opts.Self
}

// Serve runs the secondary's side of a link from primary peer on an
// upgraded connection, until it fails. The caller has sent +OK.
func (r *Replicator) Serve(nc net.Conn, peer string) error {
	r.linkOpened(peer)
	defer r.linkClosed(peer)
	br := bufio.NewReaderSize(nc, 256<<10)
	rv := &receiver{r: r, peer: peer, out: &frameWriter{w: bufio.NewWriterSize(nc, 64<<10)}}
	// Pings are answered as they are read; the other frames are applied, in
	// order, by their own goroutine. A secondary busy applying a big
	// catch-up still grants its primaries' leases on time (their buckets
	// keep serving), and its data acknowledgements still come in order.
	frames := make(chan inFrame, 32)
	applied := make(chan error, 1)
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		err := rv.apply(frames, quit)
		if err != nil {
			nc.Close() // stops the reader below
		}
		applied <- err
	}()
	// The applier ends before Serve returns: the server closes the engines
	// once its connections are done, and a record applied after that would
	// write to a closed store.
	defer func() {
		close(quit)
		<-exited
	}()
	for {
		nc.SetReadDeadline(time.Now().Add(3 * r.opts.Lease))
		kind, payload, _, err := readFrame(br, nil) // the payload goes to the applier: a buffer each
		if err != nil {
			select {
			case aerr := <-applied:
				return aerr
			default:
			}
			return err
		}
		if kind == fPing {
			if err := rv.pong(payload); err != nil {
				return err
			}
			continue
		}
		select {
		case frames <- inFrame{kind, payload}:
		case err := <-applied:
			return err
		}
	}
}

// inFrame is a frame read, for the applier.
type inFrame struct {
	kind    byte
	payload []byte
}

// frameWriter serialises the frames a secondary sends (pongs from the
// reader, the rest from the applier); each is flushed at once.
type frameWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (f *frameWriter) send(kind byte, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := writeFrame(f.w, kind, payload); err != nil {
		return err
	}
	return f.w.Flush()
}

// apply handles the frames in order and acknowledges them once the frames
// at hand are applied, until quit; it returns the first failure (after
// telling the primary of a refused record).
func (rv *receiver) apply(frames <-chan inFrame, quit <-chan struct{}) error {
	for {
		var f inFrame
		select {
		case <-quit:
			return nil
		case f = <-frames:
		}
		if err := rv.handle(f.kind, f.payload); err != nil {
			var rej *rejection
			if errors.As(err, &rej) {
				rv.r.stats.Rejected.Add(1)
				p := binary.BigEndian.AppendUint16(nil, rej.bucket)
				rv.out.send(fReject, append(p, rej.reason...))
			}
			return err
		}
		if len(frames) == 0 && rv.ackDue != 0 {
			if err := rv.out.send(fAck, binary.BigEndian.AppendUint64(nil, rv.ackDue)); err != nil {
				return err
			}
			rv.ackDue = 0
		}
	}
}

// pong answers a ping: the lease, granted only to a primary whose table is
// at least as new as this node's (one it deposed, still holding an old
// table, gets none), and this node's epoch (for in-session catch-ups). It
// acknowledges no data.
func (rv *receiver) pong(p []byte) error {
	r := rv.r
	if len(p) < 16 {
		return errors.New("replication: short ping")
	}
	seq, epoch := binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:])
	out := binary.BigEndian.AppendUint64(nil, seq)
	r.gmu.Lock() // with Install's reading of the epoch and the grants
	grant := epoch >= r.epoch.Load()
	if grant {
		r.grants[rv.peer] = Mono()
	}
	r.gmu.Unlock()
	if grant {
		out = append(out, 1)
	} else {
		out = append(out, 0)
	}
	out = binary.BigEndian.AppendUint64(out, r.epoch.Load())
	return rv.out.send(fPong, out)
}

type rejection struct {
	bucket uint16
	reason string
}

func (e *rejection) Error() string {
	return fmt.Sprintf("replication: bucket %d: %s", e.bucket, e.reason)
}

// receiver is the secondary's state of one link.
type receiver struct {
	r      *Replicator
	peer   string
	out    *frameWriter
	ackDue uint64
	snap   int // bucket being snapshotted, -1 none
	rec    record
}

func (rv *receiver) handle(kind byte, p []byte) error {
	r := rv.r
	switch kind {
	case fHello:
		rv.snap = -1
		// A primary with a newer table than ours would have its frames
		// refused as from the future: have it retry once our table caught
		// up, before it streams any snapshot.
		if len(p) >= 8 && binary.BigEndian.Uint64(p) > r.epoch.Load() {
			return &rejection{0, "table behind the primary's; retry"}
		}
		return rv.sendState()
	}
	if len(p) < 8 {
		return errors.New("replication: short frame")
	}
	seq := binary.BigEndian.Uint64(p)
	rv.ackDue = seq
	p = p[8:]
	switch kind {
	case fBatch:
		now := time.Now().UnixMilli()
		for len(p) > 0 {
			n, err := rv.applyIngests(p)
			if err == nil && n == 0 {
				n, err = rv.applyRun(p, now)
			}
			if err != nil {
				return err
			}
			p = p[n:]
		}
	case fSnapBegin:
		b, bs, err := rv.bucketFrame(p)
		if err != nil {
			return err
		}
		bs.mu.Lock()
		r.dropLocked(b, bs, r.log.endPos(), r.namespaces())
		bs.mu.Unlock()
		rv.snap = int(b)
	case fSnapData:
		if len(p) < 2 || int(binary.BigEndian.Uint16(p)) != rv.snap {
			return errors.New("replication: snapshot data out of place")
		}
		b := uint16(rv.snap)
		p = p[2:]
		now := time.Now().UnixMilli()
		bs := &r.b[b]
		bs.mu.Lock()
		defer bs.mu.Unlock()
		// The frame's items go in as one write per namespace (one batch on
		// the disk engine, not one commit per item), so that a secondary
		// catching up on a big bucket still answers its primary's pings.
		var keys [][]byte
		var items []engine.Item
		ns := -1
		flush := func() error {
			if len(keys) == 0 {
				return nil
			}
			e := r.reg.Get(uint16(ns)).Engine
			if !isPersistent(e) {
				bs.mem = true
			}
			buckets := make([]uint16, len(keys))
			for i := range buckets {
				buckets[i] = b
			}
			err := inner(e).UpdateMany(buckets, keys, now, func(_ []*engine.Item, next []engine.Item, ops []engine.Op) {
				copy(next, items)
				for i := range ops {
					ops[i] = engine.OpPut
				}
			})
			if w := r.opts.Watcher; w != nil {
				for _, k := range keys {
					w.KeyChanged(uint16(ns), b, k)
				}
			}
			keys, items = keys[:0], items[:0]
			if errors.Is(err, engine.ErrOOM) || errors.Is(err, engine.ErrTooLarge) {
				return nil // as the primary's engine would: its quota or limit
			}
			return err
		}
		for len(p) > 0 {
			n, err := decodeRecord(p, &rv.rec)
			if err != nil {
				return err
			}
			if rv.rec.bucket != b || rv.rec.kind != recPut {
				return errors.New("replication: snapshot record out of place")
			}
			if int(rv.rec.ns) != ns {
				if err := flush(); err != nil {
					return fmt.Errorf("replication: snapshot of bucket %d: %w", b, err)
				}
				ns = int(rv.rec.ns)
			}
			keys = append(keys, rv.rec.key)
			items = append(items, rv.rec.item)
			p = p[n:]
		}
		if err := flush(); err != nil {
			return fmt.Errorf("replication: snapshot of bucket %d: %w", b, err)
		}
	case fSnapEnd:
		if len(p) < 18 || int(binary.BigEndian.Uint16(p)) != rv.snap {
			return errors.New("replication: snapshot end out of place")
		}
		b, lsn, term := binary.BigEndian.Uint16(p), binary.BigEndian.Uint64(p[2:]), binary.BigEndian.Uint64(p[10:])
		if err := rv.check(b, term); err != nil {
			return err
		}
		entryTerm := term // the term of entry lsn; frames of older primaries leave it out
		if len(p) >= 26 {
			entryTerm = binary.BigEndian.Uint64(p[18:])
		}
		bs := &r.b[b]
		bs.mu.Lock()
		bs.install(r.log.endPos(), lsn, entryTerm)
		r.saveStamp(b, bs)
		bs.mu.Unlock()
		rv.snap = -1
	case fEmpty:
		if len(p) < 8 || len(p)%2 != 0 {
			return errors.New("replication: bad empty frame")
		}
		term := binary.BigEndian.Uint64(p)
		for q := p[8:]; len(q) > 0; q = q[2:] {
			b := binary.BigEndian.Uint16(q)
			if err := rv.check(b, term); err != nil {
				return err
			}
			bs := &r.b[b]
			bs.mu.Lock()
			r.dropLocked(b, bs, r.log.endPos(), r.namespaces())
			bs.install(r.log.endPos(), 0, term)
			r.saveStamp(b, bs)
			bs.mu.Unlock()
		}
	case fSynced:
		_, bs, err := rv.bucketFrame(p)
		if err != nil {
			return err
		}
		bs.mu.Lock()
		bs.setHeld(true)
		bs.mu.Unlock()
	default:
		return fmt.Errorf("replication: unexpected frame %d", kind)
	}
	return nil
}

// bucketFrame decodes a frame about one bucket (bucket(2) term(8)) and
// checks that its sender may send it.
func (rv *receiver) bucketFrame(p []byte) (uint16, *bucketState, error) {
	if len(p) < 10 {
		return 0, nil, errors.New("replication: short frame")
	}
	b, term := binary.BigEndian.Uint16(p), binary.BigEndian.Uint64(p[2:])
	if err := rv.check(b, term); err != nil {
		return 0, nil, err
	}
	return b, &rv.r.b[b], nil
}

// check accepts a frame for bucket b in term only from the bucket's primary
// in this node's table, in that table's term, with this node a secondary.
func (rv *receiver) check(b uint16, term uint64) error { return rv.checkTerm(b, term, false) }

// checkRecords is check for log records: a catch-up replays records written
// in earlier terms, which the bucket's current primary may send.
func (rv *receiver) checkRecords(b uint16, term uint64) error { return rv.checkTerm(b, term, true) }

func (rv *receiver) checkTerm(b uint16, term uint64, older bool) error {
	cur := rv.r.cur.Load()
	t := cur.t
	p := t.Primary(b)
	switch {
	case p < 0 || t.Nodes[p].ID != rv.peer:
		if term > t.Terms[b] {
			return &rejection{b, "table behind the primary's; retry"}
		}
		return &rejection{b, "not the bucket's primary"}
	case term < t.Terms[b] && !older:
		return &rejection{b, "stale term"}
	case term > t.Terms[b]:
		return &rejection{b, "table behind the primary's; retry"}
	case cur.self < 0 || !slices.Contains(t.Replicas[b][1:], cur.self) && !slices.Contains(t.Learners[b], cur.self):
		return &rejection{b, "not a secondary or learner of the bucket"}
	}
	return nil
}

// applyRun applies the records at the start of p that belong to one bucket
// and term (a stream batch holds runs of them), in LSN order, under one
// lock and one check, and logs the applied ones with one copy. It returns
// the bytes consumed.
func (rv *receiver) applyRun(p []byte, now int64) (int, error) {
	r := rv.r
	rec := &rv.rec
	if _, err := decodeRecord(p, rec); err != nil {
		return 0, err
	}
	b, term := rec.bucket, rec.term
	if err := rv.checkRecords(b, term); err != nil {
		return 0, err
	}
	bs := &r.b[b]
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if !bs.held {
		return 0, &rejection{b, "record for a bucket not caught up"}
	}
	defer end(bs)
	last := bs.lsn.Load()
	var e engine.Engine
	ns := -1
	off, from := 0, 0 // bytes consumed; start of the applied part
	var applied uint64
	var y yield.Budget
	for off < len(p) {
		n, err := decodeRecord(p[off:], rec)
		if err != nil {
			return 0, err
		}
		if rec.bucket != b || rec.term != term {
			break
		}
		switch {
		case rec.lsn <= last:
			// Already applied (catch-up overlaps the stream): only a
			// run's head can be, LSNs rise.
			from = off + n
		case rec.lsn != last+1:
			return 0, &rejection{b, fmt.Sprintf("gap: have %d, got %d", last, rec.lsn)}
		default:
			if int(rec.ns) != ns {
				ns = int(rec.ns)
				w := r.reg.Get(rec.ns).Engine
				e = inner(w)
				if isPersistent(w) {
					bs.stampTerm.Store(term)
				} else {
					bs.stampTerm.Store(0)
				}
			}
			if bs.stampTerm.Load() == 0 {
				bs.mem = true
			}
			switch rec.kind {
			case recPut:
				e.Set(b, rec.key, rec.item, now)
			case recDel:
				e.Update(b, rec.key, now, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete })
			case recDrop:
				e.DropBucket(b)
			case recIngest:
				in, ok := e.(engine.Ingester)
				if !ok {
					return 0, &rejection{b, "file for a namespace whose engine takes none"}
				}
				r.forgetStamps([]uint16{b})
				if err := in.Ingest([]uint16{b}, [][]byte{rec.item.Value}); err != nil {
					return 0, fmt.Errorf("replication: bucket %d: ingest: %w", b, err)
				}
			}
			if w := r.opts.Watcher; w != nil {
				// Readers of this secondary (READONLY) may cache what it
				// serves: tell them, before the record is acknowledged.
				if rec.kind == recDrop || rec.kind == recIngest {
					w.BucketDropped(b)
				} else {
					w.KeyChanged(rec.ns, b, rec.key)
				}
			}
			last = rec.lsn
			bs.advance(last, term)
			if rec.kind == recIngest {
				r.saveIngested([]uint16{b})
			}
			applied++
			if applied%64 == 0 {
				// A big batch would hold a data server of one core
				// (--procs 1) for milliseconds: let its clients in.
				y.Check()
			}
		}
		off += n
	}
	if off > from {
		r.log.appendRaw(p[from:off])
		r.stats.RecordsApplied.Add(applied)
	}
	return off, nil
}

// sendState reports every bucket's (LSN, term of that entry, held).
func (rv *receiver) sendState() error {
	r := rv.r
	out := make([]byte, routing.Buckets*stateEntry)
	for b := range r.b {
		bs := &r.b[b]
		bs.mu.Lock()
		p := out[b*stateEntry:]
		if bs.held {
			lsn := bs.lsn.Load()
			binary.BigEndian.PutUint64(p, lsn)
			binary.BigEndian.PutUint64(p[8:], bs.lastTerm())
			p[16] = 1
		}
		bs.mu.Unlock()
	}
	return rv.out.send(fState, out)
}
