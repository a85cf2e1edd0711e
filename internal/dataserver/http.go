package dataserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"granary/internal/command"
	"granary/internal/engine/disk"
	"granary/internal/profiling"
)

// httpServer serves /metrics (Prometheus), /healthz and, when asked for,
// the Go profiler under /debug/pprof/.
type httpServer struct {
	ln  net.Listener
	srv *http.Server
}

// startHTTP serves on addr, over TLS with tlsCfg when it is set.
func startHTTP(addr string, tlsCfg *tls.Config, node *command.Node, store *disk.Store, withProfiler bool, log *slog.Logger) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCollector(node),
	)
	if node.Repl != nil {
		reg.MustRegister(newReplCollector(node.Repl))
	}
	if store != nil {
		reg.MustRegister(newDiskCollector(store))
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	if withProfiler {
		profiling.Register(mux)
	}
	h := &httpServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "addr", addr, "err", err)
		}
	}()
	return h, nil
}

func (h *httpServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return h.srv.Shutdown(ctx)
}
