package command

import (
	"strings"

	"granary/internal/engine"
	"granary/internal/routing"
)

// GRANARY.INGEST key file [key file ...]: bulk import (granary import). Each
// file holds sorted items of the bucket its key hashes to, in the disk
// engine's file format, and replaces the keys it holds; all files are added
// at once. The first key is routed as any command's; the others must be
// served here too (MOVED otherwise), so an importer sends each node the
// buckets it leads, in commands of a few MB.
func init() {
	register(&Spec{Name: "granary.ingest", Arity: -3, Flags: FlagWrite | FlagAdmin, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdIngest})
}

func cmdIngest(c *Ctx) {
	if len(c.Args)%2 != 1 {
		c.Err("ERR wrong number of arguments for 'granary.ingest' command")
		return
	}
	in, ok := c.Engine().(engine.Ingester)
	if !ok {
		c.Err("ERR this namespace is not on the disk engine: bulk import needs it (load other namespaces with SET)")
		return
	}
	v := c.N.table.p.Load()
	n := (len(c.Args) - 1) / 2
	buckets := make([]uint16, 0, n)
	files := make([][]byte, 0, n)
	seen := map[uint16]bool{}
	for i := 1; i < len(c.Args); i += 2 {
		b := routing.Bucket(c.Args[i])
		if i > 1 && !c.serves(c.Spec, v, b) {
			return
		}
		if seen[b] {
			c.Err("ERR two files for one bucket")
			return
		}
		seen[b] = true
		buckets = append(buckets, b)
		files = append(files, c.Args[i+1])
	}
	if err := in.Ingest(buckets, files); err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "ERR ") {
			msg = "ERR ingest: " + msg
		}
		c.Err(msg)
		return
	}
	if t := c.N.Tracking; t != nil {
		// Many keys changed: readers caching any key of these buckets drop it.
		for _, b := range buckets {
			t.BucketDropped(b)
		}
	}
	if c.N.Repl != nil && !c.NS.Async.Load() {
		for _, b := range buckets[1:] {
			c.S.Pending = c.N.Repl.Note(c.S.Pending, b)
		}
	}
	c.W.Int(int64(n))
}
