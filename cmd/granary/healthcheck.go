package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"granary/internal/tlsconfig"
)

// healthcheckCmd is for container health checks: Granary's image is FROM
// scratch, with no shell, curl or wget to ask a server's /healthz.
func healthcheckCmd() *cobra.Command {
	var target string
	var timeout time.Duration
	var tlsFiles tlsconfig.Files
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when a server's /healthz answers 200 (for container health checks)",
		Long: `Ask a config server's or data server's /healthz (on its --http address) and
exit 0 when it answers 200 OK within --timeout, 1 otherwise. Granary's
container image holds the binary alone (no shell, no curl), so container
health checks run this instead:

  healthcheck: {test: ["CMD", "/granary", "healthcheck", "--url", "http://127.0.0.1:8198/healthz"]}`,
		Example: `  granary healthcheck --url http://127.0.0.1:8198/healthz   # a config server
  granary healthcheck --url http://127.0.0.1:8191/healthz   # a data server
  granary healthcheck --url https://127.0.0.1:8198/healthz --tls-ca-cert-file /etc/granary/ca.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
			if tlsFiles != (tlsconfig.Files{}) {
				cfg, err := tlsFiles.Client()
				if err != nil {
					return err
				}
				tr.TLSClientConfig = cfg
			}
			return healthcheck(cmd.Context(), target, timeout, tr, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "url", "", "URL to ask, e.g. http://127.0.0.1:8198/healthz (required)")
	f.DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	f.StringVar(&tlsFiles.CA, "tls-ca-cert-file", "", "PEM CA certificates that verify an https:// server (default: the system's roots)")
	f.StringVar(&tlsFiles.ClientCert, "tls-cert-file", "", "PEM client certificate, for servers started with --tls-auth-clients yes")
	f.StringVar(&tlsFiles.ClientKey, "tls-key-file", "", "PEM private key of --tls-cert-file")
	return cmd
}

// healthcheck GETs target with tr and succeeds on 200, writing the body's
// first line to out.
func healthcheck(ctx context.Context, target string, timeout time.Duration, tr *http.Transport, out io.Writer) error {
	if target == "" {
		return fmt.Errorf("--url is required, e.g. --url http://127.0.0.1:8198/healthz")
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want http://host:port/path", target)
	}
	if timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %v", timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	// No proxy from the environment (tr has none): the check is about this host.
	client := &http.Client{Transport: tr}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return fmt.Errorf("healthcheck: reading %s: %w", target, err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", target, resp.Status, line)
	}
	_, err = fmt.Fprintln(out, line)
	return err
}
