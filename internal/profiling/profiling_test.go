package profiling

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRegister(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, c := range []struct {
		path, body string
	}{
		{"/debug/pprof/", "goroutine"},
		{"/debug/pprof/cmdline", "profiling.test"},
		{"/debug/pprof/goroutine?debug=1", "TestRegister"},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), c.body) {
			t.Errorf("%s: status %d, body without %q", c.path, resp.StatusCode, c.body)
		}
	}
}
