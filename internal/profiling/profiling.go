// Package profiling serves the Go profiler (net/http/pprof) on a server's
// own HTTP mux, for data and config servers started with --pprof: the
// handlers net/http/pprof registers on http.DefaultServeMux are not served.
package profiling

import (
	"net/http"
	"net/http/pprof"
)

// Register adds the profiler's handlers under /debug/pprof/ to mux.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
