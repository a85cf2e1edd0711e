package clusterapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrNotAdded is returned by Heartbeat when the config servers refuse a node
// that was never added (granary ctl node add).
var ErrNotAdded = errors.New("node not added to the cluster")

// StatusError is an error reply from a config server.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("config server: %s (HTTP %d)", e.Msg, e.Code)
}

// Client talks to a config server group. It tries the addresses in turn,
// starting with the last one that answered.
type Client struct {
	addrs  []string
	hc     *http.Client
	scheme string // "http" or "https"
	last   atomic.Int32
}

// NewClient returns a client for the config servers' API addresses (host:port).
func NewClient(addrs []string) *Client {
	return &Client{addrs: addrs, hc: &http.Client{Timeout: 5 * time.Second}, scheme: "http"}
}

// NewClientTLS returns a client that speaks HTTPS with cfg (config servers
// started with a TLS certificate); a nil cfg gives NewClient's plain HTTP.
func NewClientTLS(addrs []string, cfg *tls.Config) *Client {
	if cfg == nil {
		return NewClient(addrs)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.Clone() // the transport adds its protocols to it
	return NewClientHTTP(addrs, &http.Client{Timeout: 5 * time.Second, Transport: tr}, true)
}

// NewClientHTTP returns a client that sends its requests with hc (e.g. one
// bound to a source address); with https, hc's transport holds the TLS
// configuration.
func NewClientHTTP(addrs []string, hc *http.Client, https bool) *Client {
	c := &Client{addrs: addrs, hc: hc, scheme: "http"}
	if https {
		c.scheme = "https"
	}
	return c
}

// To returns a client for other addresses that speaks as c does (scheme,
// TLS, transport).
func (c *Client) To(addrs []string) *Client {
	return &Client{addrs: addrs, hc: c.hc, scheme: c.scheme}
}

// Addrs returns the addresses the client uses.
func (c *Client) Addrs() []string { return c.addrs }

// do sends a request to the first config server that answers. A 4xx reply is
// final; a transport error or 5xx tries the next server.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	if len(c.addrs) == 0 {
		return errors.New("no config server address")
	}
	start := int(c.last.Load())
	var lastErr error
	for i := range c.addrs {
		k := (start + i) % len(c.addrs)
		err := c.once(ctx, c.addrs[k], method, path, body, out)
		if err == nil {
			c.last.Store(int32(k))
			return nil
		}
		var se *StatusError
		if errors.As(err, &se) && se.Code < 500 {
			c.last.Store(int32(k))
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		lastErr = err
	}
	return lastErr
}

func (c *Client) once(ctx context.Context, addr, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.scheme+"://"+addr+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &StatusError{Code: resp.StatusCode, Msg: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode reply from %s%s: %w", addr, path, err)
	}
	return nil
}

// Heartbeat reports a data server's liveness and learns what changed.
func (c *Client) Heartbeat(ctx context.Context, req *HeartbeatRequest) (*HeartbeatResponse, error) {
	var out HeartbeatResponse
	err := c.do(ctx, http.MethodPost, "/v1/heartbeat", req, &out)
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusForbidden {
		return nil, fmt.Errorf("%w: %s", ErrNotAdded, se.Msg)
	}
	return &out, err
}

// Status returns a summary of the cluster.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var out Status
	return &out, c.do(ctx, http.MethodGet, "/v1/status", nil, &out)
}

// Stats returns the leader's load figures and per-namespace history.
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	var out Stats
	return &out, c.do(ctx, http.MethodGet, "/v1/stats", nil, &out)
}

// State returns the whole replicated state.
func (c *Client) State(ctx context.Context) (*State, error) {
	var out State
	return &out, c.do(ctx, http.MethodGet, "/v1/state", nil, &out)
}

// Table returns the routing table.
func (c *Client) Table(ctx context.Context) (*Table, error) {
	var out Table
	return &out, c.do(ctx, http.MethodGet, "/v1/table", nil, &out)
}

// NextTable waits up to wait for a table newer than epoch (a long poll:
// the client's timeout must be longer than wait). It returns an empty
// update when none came.
func (c *Client) NextTable(ctx context.Context, epoch uint64, wait time.Duration) (*TableUpdate, error) {
	var out TableUpdate
	path := "/v1/table/next?after=" + strconv.FormatUint(epoch, 10) + "&wait=" + wait.String()
	return &out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Nodes lists the data servers.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var out []Node
	return out, c.do(ctx, http.MethodGet, "/v1/nodes", nil, &out)
}

// AddNode allows a data server to join.
func (c *Client) AddNode(ctx context.Context, n NodeAdd) (*Node, error) {
	var out Node
	return &out, c.do(ctx, http.MethodPost, "/v1/nodes", n, &out)
}

// RemoveNode forgets a data server. Without force it refuses one that is
// up and still holds bucket copies (drain it first).
func (c *Client) RemoveNode(ctx context.Context, id string, force bool) error {
	path := "/v1/nodes/" + id
	if force {
		path += "?force=1"
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil)
}

// DrainNode marks a data server draining and plans moving its copies away.
func (c *Client) DrainNode(ctx context.Context, id string) (*Rebalance, error) {
	var out Rebalance
	return &out, c.do(ctx, http.MethodPost, "/v1/nodes/"+id+"/drain", nil, &out)
}

// UndrainNode lets a draining data server hold buckets again and plans its
// share back.
func (c *Client) UndrainNode(ctx context.Context, id string) (*Rebalance, error) {
	var out Rebalance
	return &out, c.do(ctx, http.MethodPost, "/v1/nodes/"+id+"/undrain", nil, &out)
}

// Rebalance plans the layout the table builder wants; the config servers
// then migrate the buckets to it.
func (c *Client) Rebalance(ctx context.Context) (*Rebalance, error) {
	var out Rebalance
	return &out, c.do(ctx, http.MethodPost, "/v1/rebalance", nil, &out)
}

// Moves reports the migration in progress.
func (c *Client) Moves(ctx context.Context) (*Moves, error) {
	var out Moves
	return &out, c.do(ctx, http.MethodGet, "/v1/moves", nil, &out)
}

// Rebuild runs the table builder now and returns the resulting table.
func (c *Client) Rebuild(ctx context.Context) (*Table, error) {
	var out Table
	return &out, c.do(ctx, http.MethodPost, "/v1/rebuild", nil, &out)
}

// Namespaces lists the namespaces.
func (c *Client) Namespaces(ctx context.Context) ([]Namespace, error) {
	var out []Namespace
	return out, c.do(ctx, http.MethodGet, "/v1/namespaces", nil, &out)
}

// CreateNamespace defines a namespace.
func (c *Client) CreateNamespace(ctx context.Context, ns Namespace) (*Namespace, error) {
	var out Namespace
	return &out, c.do(ctx, http.MethodPost, "/v1/namespaces", ns, &out)
}

// UpdateNamespace changes a namespace.
func (c *Client) UpdateNamespace(ctx context.Context, ns Namespace) (*Namespace, error) {
	var out Namespace
	return &out, c.do(ctx, http.MethodPut, "/v1/namespaces/"+strconv.Itoa(int(ns.ID)), ns, &out)
}

// DeleteNamespace removes a namespace definition.
func (c *Client) DeleteNamespace(ctx context.Context, id uint16) error {
	return c.do(ctx, http.MethodDelete, "/v1/namespaces/"+strconv.Itoa(int(id)), nil, nil)
}

// Users lists the users (without password hashes).
func (c *Client) Users(ctx context.Context) ([]User, error) {
	var out []User
	return out, c.do(ctx, http.MethodGet, "/v1/users", nil, &out)
}

// User returns one user (without its password hash).
func (c *Client) User(ctx context.Context, name string) (*User, error) {
	var out User
	return &out, c.do(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(name), nil, &out)
}

// CreateUser defines a user; u.Password is required.
func (c *Client) CreateUser(ctx context.Context, u User) (*User, error) {
	var out User
	return &out, c.do(ctx, http.MethodPost, "/v1/users", u, &out)
}

// UpdateUser replaces a user's definition; an empty Password keeps its
// password.
func (c *Client) UpdateUser(ctx context.Context, u User) (*User, error) {
	var out User
	return &out, c.do(ctx, http.MethodPut, "/v1/users/"+url.PathEscape(u.Name), u, &out)
}

// DeleteUser removes a user.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(name), nil, nil)
}

// ConfigServers lists the Raft group.
func (c *Client) ConfigServers(ctx context.Context) ([]ConfigServer, error) {
	var out []ConfigServer
	return out, c.do(ctx, http.MethodGet, "/v1/config-servers", nil, &out)
}

// AddConfigServer adds a voter to the Raft group.
func (c *Client) AddConfigServer(ctx context.Context, cs ConfigServer) ([]ConfigServer, error) {
	var out []ConfigServer
	return out, c.do(ctx, http.MethodPost, "/v1/config-servers", cs, &out)
}

// RemoveConfigServer removes a member from the Raft group.
func (c *Client) RemoveConfigServer(ctx context.Context, id string) ([]ConfigServer, error) {
	var out []ConfigServer
	return out, c.do(ctx, http.MethodDelete, "/v1/config-servers/"+id, nil, &out)
}
