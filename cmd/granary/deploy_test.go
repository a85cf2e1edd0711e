package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"granary/internal/configserver"
)

// deployDir holds the deployment files (docker-compose.yml, kubernetes/).
const deployDir = "../../deploy"

// commandLine is a granary command line found in a deployment file.
type commandLine struct {
	where string
	args  []string // after the binary
}

// sampleEnv gives the variables the Kubernetes manifests use in arguments
// ($(POD_NAME), ...) a value of the kind Kubernetes gives them.
var sampleEnv = map[string]string{
	"POD_NAME":      "", // the StatefulSet's first pod
	"POD_NAMESPACE": "default",
	"POD_IP":        "10.1.2.3",
	"NODE_NAME":     "node-1",
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// composeCommandLines returns the granary command lines of a Compose file:
// each service's command (the image's entrypoint is /granary) and its
// health check.
func composeCommandLines(t *testing.T, path string) []commandLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Command     []string `yaml:"command"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []commandLine
	for name, s := range f.Services {
		where := filepath.Base(path) + ": service " + name
		if len(s.Command) > 0 {
			out = append(out, commandLine{where + " command", s.Command})
		}
		if test := s.Healthcheck.Test; len(test) > 0 {
			if len(test) < 2 || test[0] != "CMD" || test[1] != "/granary" {
				t.Errorf("%s: healthcheck %v: the image has no shell, want [CMD, /granary, ...]", where, test)
				continue
			}
			out = append(out, commandLine{where + " healthcheck", test[2:]})
		}
	}
	return out
}

// k8sCommandLines returns the granary command lines of a manifest file:
// the args of every pod template's containers (the image's entrypoint is
// /granary) and their exec probes, with $(VAR) references expanded.
func k8sCommandLines(t *testing.T, path string) []commandLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type probe struct {
		Exec *struct {
			Command []string `yaml:"command"`
		} `yaml:"exec"`
	}
	type container struct {
		Name    string   `yaml:"name"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name string `yaml:"name"`
		} `yaml:"env"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		StartupProbe   *probe `yaml:"startupProbe"`
	}
	var out []commandLine
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers     []container `yaml:"containers"`
						InitContainers []container `yaml:"initContainers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, c := range slices.Concat(doc.Spec.Template.Spec.Containers, doc.Spec.Template.Spec.InitContainers) {
			where := fmt.Sprintf("%s: %s %s, container %s", filepath.Base(path), doc.Kind, doc.Metadata.Name, c.Name)
			defined := map[string]bool{}
			for _, e := range c.Env {
				defined[e.Name] = true
			}
			expand := func(args []string) []string {
				var out []string
				for _, a := range args {
					out = append(out, envRef.ReplaceAllStringFunc(a, func(ref string) string {
						name := ref[2 : len(ref)-1]
						v, ok := sampleEnv[name]
						if name == "POD_NAME" {
							v = doc.Metadata.Name + "-0" // a StatefulSet's first pod
						}
						if !defined[name] || !ok {
							t.Errorf("%s: %s: $(%s) is not in the container's env, or the test has no sample value for it", where, a, name)
						}
						return v
					}))
				}
				return out
			}
			if len(c.Command) > 0 {
				t.Errorf("%s: command %v overrides the image's entrypoint (/granary): give args only", where, c.Command)
			}
			if len(c.Args) > 0 {
				out = append(out, commandLine{where + " args", expand(c.Args)})
			}
			for _, p := range []*probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
				if p != nil && p.Exec != nil {
					if len(p.Exec.Command) == 0 || p.Exec.Command[0] != "/granary" {
						t.Errorf("%s: exec probe %v: the image has no shell, want /granary ...", where, p.Exec.Command)
						continue
					}
					out = append(out, commandLine{where + " exec probe", expand(p.Exec.Command[1:])})
				}
			}
		}
	}
	return out
}

// checkCommandLine parses args with the binary's own commands: a runnable
// subcommand, known flags with valid values, the positional arguments it
// takes; for config servers, a --peers list that parses and lists --id.
func checkCommandLine(args []string) error {
	root := rootCmd()
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd == root || !cmd.Runnable() {
		return fmt.Errorf("%q is not a granary subcommand that runs", strings.Join(args, " "))
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return fmt.Errorf("granary %s: %w", cmd.Name(), err)
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return fmt.Errorf("granary %s: %w", cmd.Name(), err)
	}
	if cmd.Name() == "config" {
		peers, _ := cmd.Flags().GetString("peers")
		id, _ := cmd.Flags().GetString("id")
		ps, err := parsePeers(peers)
		if err != nil {
			return err
		}
		if len(ps) > 0 && !slices.ContainsFunc(ps, func(p configserver.Peer) bool { return p.ID == id }) {
			return fmt.Errorf("--peers %s does not list --id %s", peers, id)
		}
	}
	return nil
}

// TestDeployFilesUseRealFlags: every granary command line in deploy/
// (docker-compose.yml and its override, the Kubernetes manifests) is one the
// binary accepts.
func TestDeployFilesUseRealFlags(t *testing.T) {
	var lines []commandLine
	for _, f := range []string{"docker-compose.yml", "docker-compose.override.yml"} {
		lines = append(lines, composeCommandLines(t, filepath.Join(deployDir, f))...)
	}
	manifests, err := filepath.Glob(filepath.Join(deployDir, "kubernetes", "*.yaml"))
	if err != nil || len(manifests) == 0 {
		t.Fatalf("no Kubernetes manifests in %s/kubernetes (%v)", deployDir, err)
	}
	for _, f := range manifests {
		lines = append(lines, k8sCommandLines(t, f)...)
	}
	if len(lines) < 10 {
		t.Fatalf("found %d granary command lines in deploy/, want at least 10 (6 services, their health checks, 2 StatefulSets)", len(lines))
	}
	for _, l := range lines {
		if err := checkCommandLine(l.args); err != nil {
			t.Errorf("%s: %v\n  granary %s", l.where, err, strings.Join(l.args, " "))
		}
	}
	t.Logf("%d command lines checked", len(lines))
}

// TestCheckCommandLine: the check refuses what the binary would.
func TestCheckCommandLine(t *testing.T) {
	bad := [][]string{
		{"data", "--no-such-flag"},
		{"data", "--lease", "soon"},
		{"data", "--maxmemory", "lots"},
		{"data", "--config-servers", "cfg1"},
		{"config", "--id", "cs1", "--auto-add", "true"}, // a positional argument
		{"config", "--id", "cs4", "--peers", "cs1=a:1,cs2=b:2"},
		{"config", "--peers", "cs1"},
		{"nosuch"},
		{"ctl", "namespace", "create"}, // wants an id
	}
	for _, args := range bad {
		if err := checkCommandLine(args); err == nil {
			t.Errorf("granary %s: accepted", strings.Join(args, " "))
		}
	}
	good := [][]string{
		{"data", "--config-servers", "cfg1:8198,cfg2:8198", "--listen", "0.0.0.0:7001", "--maxmemory=1gb"},
		{"config", "--id", "cs1", "--peers", "cs1=a:1,cs2=b:2", "--auto-add"},
		{"healthcheck", "--url", "http://127.0.0.1:8198/healthz"},
		{"ctl", "--config-servers", "cfg1:8198", "namespace", "create", "1", "--name", "n"},
	}
	for _, args := range good {
		if err := checkCommandLine(args); err != nil {
			t.Errorf("granary %s: %v", strings.Join(args, " "), err)
		}
	}
}
