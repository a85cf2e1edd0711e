package replication

import (
	"encoding/binary"
	"fmt"

	"granary/internal/engine"
)

// Durable is the store under a data server's persistent (disk) namespaces,
// as replication uses it to keep each bucket's place in its history across
// restarts.
//
// Every write batch a persistent engine commits for a bucket carries a stamp
// (lsn, term, mem) in the same batch, asked of the stamper with the number of
// log records the batch makes. The stamp says "this node's data of the
// bucket is its history up to entry lsn, of term": true because the
// bucket's writes are serialised by its lock and a store recovers a prefix
// of its commits. Records of in-memory namespaces never reach the store, so
// the stamp also says whether the bucket held any (mem): such a bucket
// cannot be trusted after a restart, since that part of it is gone.
type Durable interface {
	// SetStamper installs the stamp source; fn returns nil for a batch
	// that must carry none.
	SetStamper(fn func(bucket uint16, records int) (key, value []byte))
	SetMeta(key, value []byte, sync bool) error
	DeleteMeta(key []byte) error
	// DeleteMetas deletes keys in one write, synced to disk before it
	// returns when sync is set.
	DeleteMetas(keys [][]byte, sync bool) error
	ScanMeta(prefix []byte, fn func(key, value []byte) bool) error
}

func isPersistent(e engine.Engine) bool {
	p, ok := inner(e).(engine.Persistent)
	return ok && p.Persistent()
}

const stampPrefix = "repl/b/"

func stampKey(b uint16) []byte {
	return binary.BigEndian.AppendUint16([]byte(stampPrefix), b)
}

func encodeStamp(lsn, term uint64, mem bool) []byte {
	v := make([]byte, 17)
	binary.BigEndian.PutUint64(v, lsn)
	binary.BigEndian.PutUint64(v[8:], term)
	if mem {
		v[16] = 1
	}
	return v
}

// SetDurable ties the replicator to the store of the node's persistent
// namespaces and restores the buckets that store holds a whole history
// prefix of: they come back as held copies out of any replica set (as
// orphans), so that the table that lists this node again has them caught up
// by replay from their stamp, or kept as they are where this node is the
// only copy. Call it once, before the first table is installed.
func (r *Replicator) SetDurable(d Durable) error {
	r.durable = d
	restored := 0
	now := Mono()
	err := d.ScanMeta([]byte(stampPrefix), func(k, v []byte) bool {
		if len(k) != len(stampPrefix)+2 || len(v) != 17 {
			return true
		}
		b := binary.BigEndian.Uint16(k[len(stampPrefix):])
		lsn, term, mem := binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), v[16] == 1
		if mem || int(b) >= len(r.b) {
			return true
		}
		bs := &r.b[b]
		bs.mu.Lock()
		bs.install(0, lsn, term)
		// A prefix of the history, for catch-up; not served before the
		// bucket's primary confirmed it (it may be far behind).
		bs.heldA.Store(false)
		bs.orphan = now
		bs.restored = true
		bs.stamped = true
		bs.mu.Unlock()
		restored++
		return true
	})
	if err != nil {
		return fmt.Errorf("replication: reading bucket stamps: %w", err)
	}
	d.SetStamper(r.stamp)
	if restored > 0 {
		r.slog.Info("buckets restored from disk", "buckets", restored)
	}
	r.stats.Restored.Store(uint64(restored))
	return nil
}

// stamp is the Durable's stamper: the entry the batch's records end at,
// when the batch is written under the bucket's lock by a logged write or a
// replicated apply (stampTerm set), else none.
func (r *Replicator) stamp(b uint16, records int) ([]byte, []byte) {
	bs := &r.b[b]
	term := bs.stampTerm.Load()
	if term == 0 || records <= 0 {
		return nil, nil
	}
	bs.stamped = true
	return stampKey(b), encodeStamp(bs.lsn.Load()+uint64(records), term, bs.mem)
}

// saveStamp writes the bucket's place explicitly (after a snapshot or an
// empty reset), ordered after the data it covers. Called with mu held.
func (r *Replicator) saveStamp(b uint16, bs *bucketState) { r.writeStamp(b, bs, false) }

// saveIngested stamps buckets after an ingestion of their files: an
// ingested file is durable in the store before Ingest returns, so a stamp
// that follows it in the WAL never covers a file a crash lost. The last
// stamp is synced, and with it the WAL before it: the stamps these buckets
// had were removed with a sync before the ingestion, so a stamp lost with
// the WAL's unsynced tail would cost each bucket a snapshot after a crash.
// Called with the buckets' mu held.
func (r *Replicator) saveIngested(buckets []uint16) {
	for i, b := range buckets {
		r.writeStamp(b, &r.b[b], i == len(buckets)-1)
	}
}

func (r *Replicator) writeStamp(b uint16, bs *bucketState, sync bool) {
	if r.durable == nil {
		return
	}
	bs.stamped = true
	if err := r.durable.SetMeta(stampKey(b), encodeStamp(bs.lsn.Load(), bs.lastTerm(), bs.mem), sync); err != nil {
		r.slog.Error("replication: saving bucket stamp", "bucket", b, "err", err)
	}
}

// forgetStamp removes the bucket's stamp before its data is dropped, so a
// restart never trusts a stamp whose data is gone: the WAL orders it before
// the drop. (Before an ingestion, which is not in the WAL, forgetStamps
// syncs the removal.) Called with mu held.
func (r *Replicator) forgetStamp(b uint16, bs *bucketState) {
	if r.durable == nil || !bs.stamped {
		return
	}
	bs.stamped = false
	if err := r.durable.DeleteMetas([][]byte{stampKey(b)}, false); err != nil {
		r.slog.Error("replication: removing bucket stamp", "bucket", b, "err", err)
	}
}
