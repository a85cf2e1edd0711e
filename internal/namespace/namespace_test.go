package namespace_test

import (
	"sync"
	"testing"

	"granary/internal/engine"
	"granary/internal/engine/mem"
	"granary/internal/namespace"
)

func TestRegistry(t *testing.T) {
	var mu sync.Mutex
	created := map[uint16]int{}
	r := namespace.NewRegistry(func(id uint16) engine.Engine {
		mu.Lock()
		created[id]++
		mu.Unlock()
		return mem.New(mem.Options{})
	})
	defer r.Close()

	if r.Lookup(7) != nil {
		t.Fatal("Lookup found a namespace never used")
	}
	// Concurrent first use creates each namespace once.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, id := range []uint16{0, 7, namespace.Max} {
				if ns := r.Get(id); ns.ID != id {
					t.Errorf("Get(%d).ID = %d", id, ns.ID)
				}
			}
		}()
	}
	wg.Wait()
	for _, id := range []uint16{0, 7, namespace.Max} {
		if created[id] != 1 {
			t.Errorf("namespace %d created %d times", id, created[id])
		}
	}
	var ids []uint16
	r.Each(func(ns *namespace.Namespace) { ids = append(ids, ns.ID) })
	if len(ids) != 3 || ids[0] != 0 || ids[1] != 7 || ids[2] != namespace.Max {
		t.Errorf("Each visited %v, want [0 7 65535] in order", ids)
	}
}

func TestStatsAdd(t *testing.T) {
	var s namespace.Stats
	c := namespace.Counts{Reads: 3, Writes: 2, Hits: 1, Misses: 2}
	s.Add(&c)
	s.Add(&namespace.Counts{Others: 4, Reads: 1})
	if c != (namespace.Counts{}) {
		t.Errorf("Add did not clear the counts: %+v", c)
	}
	if s.Reads.Load() != 4 || s.Writes.Load() != 2 || s.Others.Load() != 4 || s.Hits.Load() != 1 || s.Misses.Load() != 2 {
		t.Errorf("stats = r%d w%d o%d h%d m%d", s.Reads.Load(), s.Writes.Load(), s.Others.Load(), s.Hits.Load(), s.Misses.Load())
	}
}
