package bulk

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"granary/internal/progress"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/engine"
	"granary/internal/engine/disk"
	"granary/internal/routing"
)

// Options configure an import or an export.
type Options struct {
	// Seeds are RESP addresses of the cluster (data servers, or config
	// servers' RESP ports): the bucket map is read from the first that
	// answers CLUSTER SLOTS.
	Seeds    []string
	Username string
	// TLS, when set, connects to the servers with TLS (servers started
	// with --tls-cert-file).
	TLS       *tls.Config
	Password  string
	Namespace uint16
	Format    string // CSV or JSONL
	// ChunkBytes bounds the files sent in one GRANARY.INGEST (0:
	// DefaultChunkBytes).
	ChunkBytes int
	// Progress, when set, receives a progress bar.
	Progress io.Writer
	Logger   *slog.Logger
	Timeout  time.Duration // give up after this long (0: 1 hour)
}

// DefaultChunkBytes is the size of the commands an import sends: small
// enough that a command's file records (replicated one per bucket, applied
// by each secondary frame by frame) are a short queue on the secondaries.
// With 32 MiB commands a three-node cluster dropped secondaries four to six
// times during a 2M-key import (their links' pings waited behind seconds of
// ingestions) and resent their buckets; with 2 MiB none was dropped and the
// import took half the time (bench/import-cluster.sh). A standalone import
// is no slower: 10M keys in 16.6 s against 18.1 s with 32 MiB.
const DefaultChunkBytes = 2 << 20

func (o *Options) defaults() {
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = DefaultChunkBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Hour
	}
}

// Result says what an import or export did.
type Result struct {
	Records int64 // read from the file (import) or written (export)
	Expired int64 // skipped because already expired
	Keys    int64 // distinct keys imported
	Buckets int   // buckets that got a file
	Bytes   int64 // key and value bytes
	Files   int64 // bytes of the bucket files sent
	Skipped int64 // export: items that the format cannot hold (hashes in CSV)
	Elapsed time.Duration
}

// Import reads a file and has the buckets' primaries ingest it into the
// namespace (which must be on the disk engine). An existing key is
// replaced; expired records are skipped.
func Import(ctx context.Context, r io.Reader, o Options) (Result, error) {
	o.defaults()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	rd, err := NewReader(r, o.Format)
	if err != nil {
		return Result{}, err
	}
	bar := progress.New(o.Progress, -1, "reading", "records")
	l, err := load(rd, time.Now().UnixMilli(), func(n int64) { bar.Set64(n) })
	bar.Finish()
	if err != nil {
		return Result{}, err
	}
	res := Result{Records: l.records, Expired: l.expired, Bytes: l.bytes}
	o.Logger.Debug("import: file read", "records", l.records, "elapsed", time.Since(start))

	files, keys, err := buildFiles(l, o.Namespace, o.Progress)
	if err != nil {
		return res, err
	}
	res.Keys = keys
	for b := range files {
		if files[b] != nil {
			res.Buckets++
			res.Files += int64(len(files[b]))
		}
	}
	l = nil // the arena can go once the files are built
	o.Logger.Debug("import: bucket files built", "buckets", res.Buckets, "bytes", res.Files, "elapsed", time.Since(start))

	if err := send(ctx, files, o, res.Files); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// buildFiles sorts every bucket and writes its disk-engine file, on every
// core.
func buildFiles(l *loaded, ns uint16, out io.Writer) ([][]byte, int64, error) {
	files := make([][]byte, routing.Buckets)
	bar := progress.New(out, routing.Buckets, "sorting", "buckets")
	defer bar.Finish()
	var next atomic.Int32
	var keys atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, runtime.GOMAXPROCS(0))
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= routing.Buckets {
					return
				}
				bar.Add(1)
				if len(l.buckets[b]) == 0 {
					continue
				}
				es := l.sorted(uint16(b))
				keys.Add(int64(len(es)))
				f, err := disk.BucketFile(ns, uint16(b), func(yield func([]byte, engine.Item) bool) {
					for _, i := range es {
						e := l.ent(i)
						if !yield(l.key(e), engine.Item{Type: e.typ, Version: e.version, Expire: e.exp, Value: l.value(e)}) {
							return
						}
					}
				})
				if err != nil {
					errs[w] = fmt.Errorf("bucket %d: %w", b, err)
					return
				}
				files[b] = f
			}
		}()
	}
	wg.Wait()
	return files, keys.Load(), errors.Join(errs...)
}

// send has each bucket's primary ingest its file: per node, commands of up
// to ChunkBytes, sent in parallel across nodes. Buckets refused (moved, no
// lease yet, a node down) are retried with a fresh bucket map.
func send(ctx context.Context, files [][]byte, o Options, total int64) error {
	bar := progress.New(o.Progress, total, "ingesting", "bytes")
	defer bar.Finish()
	pending := make([]uint16, 0, routing.Buckets)
	for b := range files {
		if files[b] != nil {
			pending = append(pending, uint16(b))
		}
	}
	keys := bucketKeys()
	clients := map[string]*redis.Client{}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	client := func(addr string) *redis.Client {
		c := clients[addr]
		if c == nil {
			c = redis.NewClient(&redis.Options{Addr: addr, TLSConfig: o.TLS, Username: o.Username, Password: o.Password, DB: int(o.Namespace),
				MaxRetries: -1, ReadTimeout: 5 * time.Minute, WriteTimeout: time.Minute, PoolSize: 2})
			clients[addr] = c
		}
		return c
	}
	var lastErr error
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("import: %d buckets not ingested: %w (last error: %v)", len(pending), ctx.Err(), lastErr)
			case <-time.After(min(time.Duration(attempt)*200*time.Millisecond, 2*time.Second)):
			}
		}
		owners, err := bucketOwners(ctx, o)
		if err != nil {
			lastErr = err
			if attempt > 50 {
				return err
			}
			continue
		}
		byNode := map[string][]uint16{}
		for _, b := range pending {
			if a := owners[b]; a != "" {
				byNode[a] = append(byNode[a], b)
			}
		}
		var mu sync.Mutex
		var failed []uint16
		var wg sync.WaitGroup
		for addr, bs := range byNode {
			c := client(addr)
			// The node's buckets in commands of up to ChunkBytes; two in
			// flight per node, so that it reads one while it ingests the
			// other.
			chunks := make(chan []uint16, len(bs))
			for len(bs) > 0 {
				n, size := 0, 0
				for n < len(bs) && (n == 0 || size+len(files[bs[n]]) <= o.ChunkBytes) {
					size += len(files[bs[n]])
					n++
				}
				chunks <- bs[:n]
				bs = bs[n:]
			}
			close(chunks)
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for chunk := range chunks {
						args := make([]any, 0, 1+2*len(chunk))
						args = append(args, "GRANARY.INGEST")
						size := 0
						for _, b := range chunk {
							args = append(args, keys[b], files[b])
							size += len(files[b])
						}
						if err := c.Do(ctx, args...).Err(); err != nil {
							mu.Lock()
							if isFatal(err) {
								lastErr = fatalError{err}
							} else {
								failed = append(failed, chunk...)
								if _, fatal := lastErr.(fatalError); !fatal {
									lastErr = fmt.Errorf("%s: %w", addr, err)
								}
							}
							mu.Unlock()
							continue
						}
						bar.Add64(int64(size))
					}
				}()
			}
		}
		wg.Wait()
		var fe fatalError
		if errors.As(lastErr, &fe) {
			return fe.err
		}
		// Buckets without an owner in the map stay pending too.
		still := failed
		for _, b := range pending {
			if owners[b] == "" {
				still = append(still, b)
			}
		}
		if len(still) > 0 {
			o.Logger.Debug("import: retrying buckets", "buckets", len(still), "err", lastErr)
		}
		pending = still
	}
	return nil
}

type fatalError struct{ err error }

func (f fatalError) Error() string { return f.err.Error() }

// isFatal tells errors that a retry cannot fix: the namespace is not on
// the disk engine, wrong credentials, a file the server refused.
func isFatal(err error) bool {
	var fe fatalError
	if errors.As(err, &fe) {
		return true
	}
	s := err.Error()
	for _, p := range []string{"MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING"} {
		if strings.HasPrefix(s, p) {
			return false
		}
	}
	var re redis.Error
	return errors.As(err, &re)
}

// bucketOwners reads the bucket map: each bucket's primary address.
func bucketOwners(ctx context.Context, o Options) ([]string, error) {
	var last error
	for _, seed := range o.Seeds {
		c := redis.NewClient(&redis.Options{Addr: seed, TLSConfig: o.TLS, Username: o.Username, Password: o.Password, MaxRetries: -1})
		slots, err := c.ClusterSlots(ctx).Result()
		c.Close()
		if err != nil {
			last = fmt.Errorf("%s: CLUSTER SLOTS: %w", seed, err)
			continue
		}
		owners := make([]string, routing.Buckets)
		for _, s := range slots {
			if len(s.Nodes) == 0 {
				continue
			}
			for b := s.Start; b <= s.End && b < routing.Buckets; b++ {
				owners[b] = s.Nodes[0].Addr
			}
		}
		return owners, nil
	}
	if last == nil {
		last = errors.New("no seed address")
	}
	return nil, last
}

// bucketKeys returns, for every bucket, a short key that hashes to it.
var bucketKeys = sync.OnceValue(func() []string {
	keys := make([]string, routing.Buckets)
	left := routing.Buckets
	for i := 0; left > 0; i++ {
		k := fmt.Sprintf("b%d", i)
		if b := routing.Bucket([]byte(k)); keys[b] == "" {
			keys[b] = k
			left--
		}
	}
	return keys
})
