//go:build fault

package fault

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// The register model: one register per key (porcupine checks each key on its
// own), initially absent. A SET returns OK; a GET returns the value or nil.

type regIn struct {
	key   string
	set   bool
	value string
}

type regOut struct {
	value string
	found bool
}

// state: the register's value, "" when absent (values are never empty).
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range h {
			k := o.Input.(regIn).key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], o)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regIn)
		if in.set {
			return true, in.value
		}
		out := output.(regOut)
		if !out.found {
			return state.(string) == "", state
		}
		return out.value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regIn)
		if in.set {
			return fmt.Sprintf("set(%s)", in.value)
		}
		if out := output.(regOut); out.found {
			return "get() -> " + out.value
		}
		return "get() -> nil"
	},
	DescribeState: func(state any) string {
		if s := state.(string); s != "" {
			return s
		}
		return "nil"
	},
}

// history turns the register operations into porcupine's: a SET that failed
// or timed out may have been applied, at any time from its call on, so it is
// left open (its return is after everything), unless every attempt of it
// failed in a way that shows it was not (op.ambiguous); a GET that failed
// says nothing and is dropped.
func history(ops []op) map[string][]porcupine.Operation {
	out := map[string][]porcupine.Operation{}
	for _, o := range ops {
		var p porcupine.Operation
		switch {
		case o.kind == opGet && o.status == stOK:
			p = porcupine.Operation{ClientId: o.client, Input: regIn{key: o.key}, Call: o.call,
				Output: regOut{value: o.value, found: o.found}, Return: o.ret}
		case o.kind == opSet && (o.status == stOK || o.ambiguous):
			ret := o.ret
			if o.status != stOK {
				ret = math.MaxInt64
			}
			p = porcupine.Operation{ClientId: o.client, Input: regIn{key: o.key, set: true, value: o.value},
				Call: o.call, Output: regOut{}, Return: ret}
		default:
			continue
		}
		p.Metadata = describeStatus(o)
		out[o.key] = append(out[o.key], p)
	}
	return out
}

func describeStatus(o op) string {
	s := [...]string{"ok", "failed", "timeout"}[o.status]
	if o.attempts > 1 {
		s += fmt.Sprintf(", %d attempts", o.attempts)
	}
	if o.status != stOK && o.ambiguous {
		s += ", maybe applied"
	}
	if o.err != "" {
		s += ": " + o.err
	}
	return s
}

// linResult is porcupine's verdict on a namespace's registers.
type linResult struct {
	result  porcupine.CheckResult // Illegal if any key is, else Unknown if any is, else Ok
	illegal []string              // keys whose history is not linearizable
	unknown []string              // keys whose check ran out of time
	took    time.Duration
}

// checkLinearizable checks every key's history, in parallel, within timeout
// in all (0: no bound).
func checkLinearizable(hist map[string][]porcupine.Operation, timeout time.Duration) linResult {
	start := time.Now()
	deadline := start.Add(timeout)
	keys := make([]string, 0, len(hist))
	for k := range hist {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	results := make([]porcupine.CheckResult, len(keys))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				left := time.Duration(0) // no bound
				if timeout > 0 {
					if left = time.Until(deadline); left <= 0 {
						results[i] = porcupine.Unknown
						continue
					}
				}
				results[i] = porcupine.CheckOperationsTimeout(registerModel, hist[keys[i]], left)
			}
		}()
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()
	r := linResult{result: porcupine.Ok, took: time.Since(start)}
	for i, k := range keys {
		switch results[i] {
		case porcupine.Illegal:
			r.illegal = append(r.illegal, k)
		case porcupine.Unknown:
			r.unknown = append(r.unknown, k)
		}
	}
	switch {
	case len(r.illegal) > 0:
		r.result = porcupine.Illegal
	case len(r.unknown) > 0:
		r.result = porcupine.Unknown
	}
	return r
}

// visualize writes porcupine's HTML visualization of one key's history, with
// the faults as annotations, to dir; it returns the file's path.
func visualize(dir, name string, ops []porcupine.Operation, events []faultEvent, timeout time.Duration) (string, error) {
	_, info := porcupine.CheckOperationsVerbose(registerModel, ops, timeout)
	var notes []porcupine.Annotation
	for _, e := range events {
		end := e.end
		if end < e.start {
			end = e.start
		}
		notes = append(notes, porcupine.Annotation{Tag: "faults", Start: e.start, End: end,
			Description: e.kind + " " + e.target, Details: e.detail, BackgroundColor: "#f4c7c3"})
		if e.healed > end {
			notes = append(notes, porcupine.Annotation{Tag: "faults", Start: end, End: e.healed,
				Description: "healing", BackgroundColor: "#fde293"})
		}
	}
	info.AddAnnotations(notes)
	path := filepath.Join(dir, name+".html")
	if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
		return "", err
	}
	return path, nil
}

// describeKey summarises a key's history for a report: the first read that
// missed an acknowledged write, if one plainly did, and the final read.
func describeKey(key string, ops []op) string {
	var sets, gets []*op
	writer := map[string]*op{}
	retried := 0
	for i := range ops {
		o := &ops[i]
		switch {
		case o.key != key:
		case o.kind == opSet:
			writer[o.value] = o
			if o.attempts > 1 {
				retried++
			}
			if o.status == stOK {
				sets = append(sets, o)
			}
		case o.kind == opGet && o.status == stOK:
			gets = append(gets, o)
		}
	}
	sort.Slice(sets, func(i, j int) bool { return sets[i].ret < sets[j].ret })
	sort.Slice(gets, func(i, j int) bool { return gets[i].call < gets[j].call })
	var b strings.Builder
	fmt.Fprintf(&b, "%s:", key)
	// A read is plainly stale when a SET was acknowledged before it was
	// called and it returns nil, or a value whose SET was acknowledged
	// before that SET was called.
	for _, g := range gets {
		i := sort.Search(len(sets), func(i int) bool { return sets[i].ret >= g.call })
		if i == 0 {
			continue
		}
		w := sets[i-1]
		v := writer[g.value]
		if !g.found || (v != nil && v != w && v.status == stOK && v.ret < w.call) {
			fmt.Fprintf(&b, " a GET at %s returned %s although SET %s was acknowledged at %s;", at(g.call), showValue(g), w.value, at(w.ret))
			break
		}
	}
	if len(gets) > 0 {
		g := gets[len(gets)-1]
		fmt.Fprintf(&b, " last read %s at %s;", showValue(g), at(g.call))
	}
	if len(sets) > 0 {
		fmt.Fprintf(&b, " last acknowledged SET %s at %s;", sets[len(sets)-1].value, at(sets[len(sets)-1].ret))
	}
	fmt.Fprintf(&b, " %d SETs retried by the client", retried)
	return b.String()
}

func showValue(g *op) string {
	if !g.found {
		return "nil"
	}
	return g.value
}

// at formats a timestamp as seconds since the run began.
func at(ns int64) string {
	if ns == math.MaxInt64 {
		return "never"
	}
	return fmt.Sprintf("+%.3fs", time.Duration(ns).Seconds())
}

// lostWrites compares the acknowledged write-once SETs with their read-back:
// lost are acknowledged keys read back missing or different (with up to 5
// examples), unread the acknowledged keys that could not be read back;
// ghosts are SETs that failed or timed out and took effect anyway (allowed
// when ambiguous, a violation otherwise: counted in badGhosts).
func lostWrites(ops []op, got map[string]readBack) (acked, lost, unread, ghosts, badGhosts int, examples []string) {
	for _, o := range ops {
		if o.kind != opOnce {
			continue
		}
		rb, read := got[o.key]
		if o.status != stOK {
			if read && rb.found && rb.value == o.value {
				ghosts++
				if !o.ambiguous {
					badGhosts++
					if len(examples) < 5 {
						examples = append(examples, fmt.Sprintf("%s=%s failed at %s (%s) but was applied", o.key, o.value, at(o.ret), describeStatus(o)))
					}
				}
			}
			continue
		}
		acked++
		switch {
		case !read:
			unread++
		case !rb.found || rb.value != o.value:
			lost++
			if len(examples) < 5 {
				v := "nil"
				if rb.found {
					v = rb.value
				}
				examples = append(examples, fmt.Sprintf("%s=%s acknowledged at %s, reads back %s", o.key, o.value, at(o.ret), v))
			}
		}
	}
	return acked, lost, unread, ghosts, badGhosts, examples
}
