package bulk

import (
	"context"
	"errors"
	"fmt"
	"granary/internal/progress"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/routing"
)

// exportBatch is how many keys one pipeline reads.
const exportBatch = 512

// Export writes every item of the namespace to w, bucket by bucket, reading
// each bucket from its primary (CLUSTER GETKEYSINSLOT, then GET or HGETALL
// and PEXPIRETIME per key). Items written while it runs may or may not be
// in the file: it is not a point-in-time snapshot. Hashes cannot be written
// as CSV: they are counted in Result.Skipped.
func Export(ctx context.Context, w io.Writer, o Options) (Result, error) {
	o.defaults()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	wr, err := NewWriter(w, o.Format)
	if err != nil {
		return Result{}, err
	}
	owners, err := bucketOwners(ctx, o)
	if err != nil {
		return Result{}, err
	}
	clients := map[string]*redis.Client{}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	bar := progress.New(o.Progress, routing.Buckets, "exporting", "buckets")
	defer bar.Finish()
	var res Result
	for b := 0; b < routing.Buckets; b++ {
		for attempt := 0; ; attempt++ {
			addr := owners[b]
			if addr == "" {
				err = fmt.Errorf("bucket %d has no primary", b)
			} else {
				c := clients[addr]
				if c == nil {
					c = redis.NewClient(&redis.Options{Addr: addr, TLSConfig: o.TLS, Username: o.Username, Password: o.Password, DB: int(o.Namespace), MaxRetries: -1})
					clients[addr] = c
				}
				err = exportBucket(ctx, c, uint16(b), wr, &res)
			}
			if err == nil {
				break
			}
			if isFatal(err) || attempt == 50 || ctx.Err() != nil {
				return res, fmt.Errorf("export: bucket %d: %w", b, err)
			}
			time.Sleep(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second))
			if o2, err2 := bucketOwners(ctx, o); err2 == nil {
				owners = o2
			}
		}
		bar.Add(1)
	}
	if err := wr.Flush(); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// exportBucket writes bucket b's items. It writes nothing until every
// read of the bucket succeeded, so a retry does not duplicate items.
func exportBucket(ctx context.Context, c *redis.Client, b uint16, wr *Writer, res *Result) error {
	keys, err := c.ClusterGetKeysInSlot(ctx, int(b), 1<<31-1).Result()
	if err != nil {
		return err
	}
	var out []Record
	for i := 0; i < len(keys); i += exportBatch {
		batch := keys[i:min(i+exportBatch, len(keys))]
		pipe := c.Pipeline()
		types := make([]*redis.StatusCmd, len(batch))
		exps := make([]*redis.IntCmd, len(batch))
		for j, k := range batch {
			types[j] = pipe.Type(ctx, k)
			exps[j] = redis.NewIntCmd(ctx, "PEXPIRETIME", k)
			pipe.Process(ctx, exps[j])
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		pipe = c.Pipeline()
		strs := make([]*redis.StringCmd, len(batch))
		hashes := make([]*redis.MapStringStringCmd, len(batch))
		for j, k := range batch {
			switch types[j].Val() {
			case "string":
				strs[j] = pipe.Get(ctx, k)
			case "hash":
				hashes[j] = pipe.HGetAll(ctx, k)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for j, k := range batch {
			rec := Record{Key: []byte(k)}
			if e := exps[j].Val(); e > 0 {
				rec.ExpireAt = e
			}
			switch {
			case strs[j] != nil && strs[j].Err() == nil:
				rec.Value = []byte(strs[j].Val())
			case hashes[j] != nil && hashes[j].Err() == nil && len(hashes[j].Val()) > 0:
				for f, v := range hashes[j].Val() {
					rec.Hash = append(rec.Hash, []byte(f), []byte(v))
				}
			default:
				continue // gone (deleted or expired) since it was listed
			}
			out = append(out, rec)
		}
	}
	for i := range out {
		if err := wr.Write(&out[i]); err != nil {
			if errors.Is(err, ErrHashInCSV) {
				res.Skipped++
				continue
			}
			return fatalError{err}
		}
		res.Records++
		res.Bytes += int64(len(out[i].Key) + len(out[i].Value))
	}
	return nil
}
