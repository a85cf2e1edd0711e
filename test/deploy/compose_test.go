package deploy

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	yaml3 "go.yaml.in/yaml/v3"
)

// composeFile is the part of the Compose format deploy/ uses; decoding is
// strict, so a misspelt or unexpected field fails.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct{}       `yaml:"networks"`
	Volumes  map[string]struct{}       `yaml:"volumes"`
	// x-* extension fields (anchors shared by the services).
	Extensions map[string]any `yaml:",inline"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Restart     string            `yaml:"restart"`
	Hostname    string            `yaml:"hostname"`
	Environment map[string]string `yaml:"environment"`
	Command     []string          `yaml:"command"`
	Networks    []string          `yaml:"networks"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

func loadCompose(t *testing.T, path string) *composeFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml3.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f composeFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for k := range f.Extensions {
		if !strings.HasPrefix(k, "x-") {
			t.Errorf("%s: unexpected top-level key %q", path, k)
		}
	}
	return &f
}

// hostPort splits host:port.
func hostPort(t *testing.T, where, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Errorf("%s: %q is not host:port", where, addr)
		return "", -1
	}
	return h, n
}

// TestComposeFile checks that docker-compose.yml's services agree on each
// other's names and ports, and that docker-compose.override.yml publishes
// each data server's RESP port on the port it advertises.
func TestComposeFile(t *testing.T) {
	f := loadCompose(t, "../../deploy/docker-compose.yml")
	type cfgServer struct{ raft, http, resp int }
	cfgs := map[string]cfgServer{}
	dataPorts := map[string][]int{} // service: RESP, HTTP
	var cfgNames, dataNames []string
	for name, s := range f.Services {
		switch {
		case len(s.Command) > 0 && s.Command[0] == "config":
			cfgNames = append(cfgNames, name)
		case len(s.Command) > 0 && s.Command[0] == "data":
			dataNames = append(dataNames, name)
		default:
			t.Errorf("service %s: command %v: want granary config or granary data", name, s.Command)
		}
	}
	slices.Sort(cfgNames)
	slices.Sort(dataNames)
	if len(cfgNames) != 3 || len(dataNames) != 3 {
		t.Fatalf("config servers %v, data servers %v: want three of each", cfgNames, dataNames)
	}

	for name, s := range f.Services {
		where := "service " + name
		fl := flags(s.Command[1:])
		if s.Image != "${GRANARY_IMAGE:-granary:dev}" {
			t.Errorf("%s: image %q, want ${GRANARY_IMAGE:-granary:dev} (the test runs its own image)", where, s.Image)
		}
		if s.Hostname != name {
			t.Errorf("%s: hostname %q, want the service's name", where, s.Hostname)
		}
		for _, n := range s.Networks {
			if _, ok := f.Networks[n]; !ok {
				t.Errorf("%s: network %s is not declared", where, n)
			}
		}
		if len(s.Networks) != 1 {
			t.Errorf("%s: networks %v, want the private one", where, s.Networks)
		}
		if len(s.Volumes) != 1 {
			t.Errorf("%s: volumes %v, want its named volume on /data", where, s.Volumes)
		} else if vol, path, _ := strings.Cut(s.Volumes[0], ":"); path != "/data" {
			t.Errorf("%s: volume %s, want it on /data", where, s.Volumes[0])
		} else if _, ok := f.Volumes[vol]; !ok {
			t.Errorf("%s: volume %s is not declared", where, vol)
		}
		if !strings.HasPrefix(fl["dir"], "/data/") {
			t.Errorf("%s: --dir %q is not on its volume (/data)", where, fl["dir"])
		}
		_, httpPort := hostPort(t, where+" --http", fl["http"])
		_, listenPort := hostPort(t, where+" --listen", fl["listen"])
		// The health check: the binary asks its own /healthz.
		hc := s.Healthcheck
		if hc == nil || len(hc.Test) != 5 || hc.Test[0] != "CMD" || hc.Test[1] != "/granary" || hc.Test[2] != "healthcheck" || hc.Test[3] != "--url" {
			t.Errorf("%s: healthcheck %+v, want [CMD, /granary, healthcheck, --url, URL]", where, hc)
		} else if u, err := url.Parse(hc.Test[4]); err != nil || u.Hostname() != "127.0.0.1" || u.Port() != strconv.Itoa(httpPort) || u.Path != "/healthz" {
			t.Errorf("%s: healthcheck URL %s, want http://127.0.0.1:%d/healthz (its --http port)", where, hc.Test[4], httpPort)
		}
		if s.Command[0] == "config" {
			_, raftPort := hostPort(t, where+" --raft", fl["raft"])
			cfgs[name] = cfgServer{raft: raftPort, http: httpPort, resp: listenPort}
			if fl["id"] != name {
				t.Errorf("%s: --id %q, want the service's name", where, fl["id"])
			}
		} else {
			dataPorts[name] = []int{listenPort, httpPort}
		}
	}

	// Config servers: the same --peers everywhere, every member by its
	// service name and Raft port.
	var peers []string
	for _, n := range cfgNames {
		peers = append(peers, n+"="+n+":"+strconv.Itoa(cfgs[n].raft))
	}
	for _, n := range cfgNames {
		if got := flags(f.Services[n].Command[1:])["peers"]; got != strings.Join(peers, ",") {
			t.Errorf("service %s: --peers %q, want %q", n, got, strings.Join(peers, ","))
		}
	}
	// Data servers: every config server's API; they advertise their
	// service name and RESP port, each a port of its own (the override
	// publishes it as is); they start once the config servers are healthy.
	var apis []string
	for _, n := range cfgNames {
		apis = append(apis, n+":"+strconv.Itoa(cfgs[n].http))
	}
	for name, s := range f.Services {
		if got := s.Environment["GRANARY_CONFIG_SERVERS"]; got != strings.Join(apis, ",") {
			t.Errorf("service %s: GRANARY_CONFIG_SERVERS %q (granary ctl's default), want %q", name, got, strings.Join(apis, ","))
		}
	}
	seen := map[int]string{}
	for _, n := range dataNames {
		s := f.Services[n]
		fl := flags(s.Command[1:])
		if fl["config-servers"] != strings.Join(apis, ",") {
			t.Errorf("service %s: --config-servers %q, want %q", n, fl["config-servers"], strings.Join(apis, ","))
		}
		resp := dataPorts[n][0]
		if want := n + ":" + strconv.Itoa(resp); fl["advertise"] != want {
			t.Errorf("service %s: --advertise %q, want %q (its name and --listen port)", n, fl["advertise"], want)
		}
		if other, ok := seen[resp]; ok {
			t.Errorf("services %s and %s both serve RESP on %d: host clients tell data servers apart by port", other, n, resp)
		}
		seen[resp] = n
		for _, c := range cfgNames {
			if s.DependsOn[c].Condition != "service_healthy" {
				t.Errorf("service %s: want depends_on %s with condition service_healthy", n, c)
			}
		}
	}

	// The override: host ports on 127.0.0.1; a data server's RESP port
	// published on the same number.
	o := loadCompose(t, "../../deploy/docker-compose.override.yml")
	hostPorts := map[string]string{}
	for name, s := range o.Services {
		base, ok := f.Services[name]
		if !ok {
			t.Errorf("override: service %s is not in docker-compose.yml", name)
			continue
		}
		bf := flags(base.Command[1:])
		var inside []int
		for _, fl := range []string{"listen", "http", "raft"} {
			if v, ok := bf[fl]; ok {
				_, p := hostPort(t, name+" --"+fl, v)
				inside = append(inside, p)
			}
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("override: service %s: port %q, want 127.0.0.1:HOST:CONTAINER", name, p)
				continue
			}
			c, _ := strconv.Atoi(parts[2])
			if !slices.Contains(inside, c) {
				t.Errorf("override: service %s publishes %d, which it does not listen on (%v)", name, c, inside)
			}
			if other, ok := hostPorts[parts[1]]; ok {
				t.Errorf("override: host port %s published by %s and %s", parts[1], other, name)
			}
			hostPorts[parts[1]] = name
		}
		if ports, ok := dataPorts[name]; ok {
			want := "127.0.0.1:" + strconv.Itoa(ports[0]) + ":" + strconv.Itoa(ports[0])
			if !slices.Contains(s.Ports, want) {
				t.Errorf("override: service %s must publish its RESP port on the port it advertises: %s", name, want)
			}
		}
	}
	for _, n := range slices.Concat(cfgNames, dataNames) {
		if _, ok := o.Services[n]; !ok {
			t.Errorf("override: service %s publishes nothing", n)
		}
	}
}
