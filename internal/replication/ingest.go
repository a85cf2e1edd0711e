package replication

import (
	"fmt"
	"slices"

	"granary/internal/engine"
)

// Bulk import (GRANARY.INGEST) logs one record per bucket carrying a file of
// the bucket's items. A primary ingests a command's files in one step; a
// secondary does the same with the consecutive file records of a batch, so
// that an import of thousands of buckets costs it a few ingestions and
// fsyncs, not one per bucket (each of which would hold its link for
// milliseconds, long enough to miss its leases).

// forgetStamps removes the stamps of buckets bs (their locks held) in one
// synced write, before files are ingested into them: an ingestion is not in
// the WAL, so a restart must not trust an older stamp. Called with the
// buckets' locks held.
func (r *Replicator) forgetStamps(buckets []uint16) {
	if r.durable == nil {
		return
	}
	var keys [][]byte
	for _, b := range buckets {
		if bs := &r.b[b]; bs.stamped {
			bs.stamped = false
			keys = append(keys, stampKey(b))
		}
	}
	if len(keys) == 0 {
		return
	}
	if err := r.durable.DeleteMetas(keys, true); err != nil {
		r.slog.Error("replication: removing bucket stamps", "buckets", len(keys), "err", err)
	}
}

type ingestRec struct {
	b    uint16
	lsn  uint64
	file []byte
}

// applyIngests applies the file records at the start of p that are the next
// entries of their buckets, all of one namespace and one term, in one
// ingestion. It returns the bytes consumed: 0 when p does not start with
// such a record (applyRun then takes it).
func (rv *receiver) applyIngests(p []byte) (int, error) {
	r := rv.r
	rec := &rv.rec
	var recs []ingestRec
	var ns uint16
	var term uint64
	off := 0
	for off < len(p) {
		n, err := decodeRecord(p[off:], rec)
		if err != nil {
			return 0, err
		}
		if rec.kind != recIngest || (len(recs) > 0 && (rec.ns != ns || rec.term != term)) ||
			slices.ContainsFunc(recs, func(x ingestRec) bool { return x.b == rec.bucket }) {
			break
		}
		bs := &r.b[rec.bucket]
		if rec.lsn != bs.lsn.Load()+1 {
			break // not the bucket's next entry: applyRun decides
		}
		ns, term = rec.ns, rec.term
		recs = append(recs, ingestRec{b: rec.bucket, lsn: rec.lsn, file: rec.item.Value})
		off += n
	}
	if len(recs) < 2 {
		return 0, nil // one record (or none): applyRun's path
	}
	for _, x := range recs {
		if err := rv.checkRecords(x.b, term); err != nil {
			return 0, err
		}
	}
	in, ok := inner(r.reg.Get(ns).Engine).(engine.Ingester)
	if !ok {
		return 0, &rejection{recs[0].b, "file for a namespace whose engine takes none"}
	}
	buckets := make([]uint16, len(recs))
	files := make([][]byte, len(recs))
	for i, x := range recs {
		buckets[i], files[i] = x.b, x.file
	}
	locked := r.lockBuckets(make([]uint16, 0, len(recs)), buckets)
	defer r.unlockBuckets(locked)
	for _, x := range recs {
		bs := &r.b[x.b]
		if !bs.held || x.lsn != bs.lsn.Load()+1 {
			return 0, &rejection{x.b, fmt.Sprintf("gap: have %d, got %d", bs.lsn.Load(), x.lsn)}
		}
	}
	r.forgetStamps(locked)
	if err := in.Ingest(buckets, files); err != nil {
		return 0, fmt.Errorf("replication: ingest of %d buckets: %w", len(buckets), err)
	}
	for _, x := range recs {
		if w := r.opts.Watcher; w != nil {
			w.BucketDropped(x.b) // its keys changed: readers of this copy drop what they cached
		}
		r.b[x.b].advance(x.lsn, term)
	}
	r.saveIngested(buckets)
	r.log.appendRaw(p[:off])
	r.stats.RecordsApplied.Add(uint64(len(recs)))
	return off, nil
}
