package configserver

import (
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard: static files that poll the read API (/v1/status,
// /v1/state, /v1/stats) from the browser. No build step: they are served
// as written.
//
//go:embed ui
var uiFiles embed.FS

// handleUI serves the dashboard at /ui/ and sends a browser asking for / there.
func (s *Server) handleUI(mux *http.ServeMux) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree always has ui/
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	mux.Handle("GET /ui/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The files change with the binary: a browser revalidates them.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
}
