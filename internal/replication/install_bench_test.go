package replication

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"granary/internal/engine"
	"granary/internal/engine/mem"
	"granary/internal/namespace"
	"granary/internal/routing"
)

// BenchmarkInstall measures a migration step's table on one node of four
// (copies 2, scattered ranges): every data server installs each step.
func BenchmarkInstall(b *testing.B) {
	var nodes []routing.NodeState
	for i := range 4 {
		// Port 1 refuses: the links this starts fail and retry quietly.
		nodes = append(nodes, routing.NodeState{Node: routing.Node{ID: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: 1}, Status: routing.NodeUp})
	}
	t3, _, _ := routing.Build(nil, nodes[:3], 2)
	t4, _, err := routing.Build(t3, nodes, 2)
	if err != nil {
		b.Fatal(err)
	}
	for b := range t4.Terms {
		t4.Terms[b] = 1 // the config servers stamp every bucket's primary term
	}
	r := New(Options{Self: "n0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	reg := namespace.NewRegistry(func(ns uint16) engine.Engine { return r.Wrap(mem.New(mem.Options{}), ns) })
	r.SetRegistry(reg)
	defer func() { r.Close(); reg.Close() }()
	for b.Loop() {
		t4.Epoch++ // the same table again: Install looks at every bucket
		r.Install(t4)
	}
}
