// Package deploy checks the deployment files in deploy/ without a cluster:
// the Kubernetes manifests decode strictly into the Kubernetes API types and
// refer to each other consistently, and docker-compose.yml's services agree
// on each other's names and ports. That the granary commands in both use
// real flags with valid values is checked in cmd/granary (deploy_test.go),
// against the binary's own flag sets. Run by `make k8s-check`.
package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const k8sDir = "../../deploy/kubernetes"

// manifests are the decoded objects, by kind.
type manifests struct {
	services     []*corev1.Service
	statefulSets []*appsv1.StatefulSet
	pdbs         []*policyv1.PodDisruptionBudget
}

// splitDocs splits a YAML stream at its "---" lines, dropping documents
// that hold only comments.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		for _, l := range strings.Split(cur.String(), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				docs = append(docs, slices.Clone(cur.Bytes()))
				break
			}
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.TrimRight(line, "\r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

// loadManifests decodes every document of every .yaml file in dir strictly
// (an unknown or misplaced field fails) into its API type.
func loadManifests(t *testing.T, dir string) *manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", dir, err)
	}
	m := &manifests{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitDocs(b) {
			where := fmt.Sprintf("%s, document %d", filepath.Base(f), i+1)
			var tm struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 Service":
				s := &corev1.Service{}
				m.services, obj = append(m.services, s), s
			case "apps/v1 StatefulSet":
				s := &appsv1.StatefulSet{}
				m.statefulSets, obj = append(m.statefulSets, s), s
			case "policy/v1 PodDisruptionBudget":
				p := &policyv1.PodDisruptionBudget{}
				m.pdbs, obj = append(m.pdbs, p), p
			default:
				t.Errorf("%s: unexpected %s %s (the test knows Service, StatefulSet, PodDisruptionBudget: teach it the new kind)", where, tm.APIVersion, tm.Kind)
				continue
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Errorf("%s (%s): %v", where, tm.Kind, err)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return m
}

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	portName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	envRef   = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
)

// selects reports whether a selector (a label set) picks pods labelled labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// findPort resolves a named or numbered port among a container's ports.
func findPort(c *corev1.Container, name string, number int32) *corev1.ContainerPort {
	for i, p := range c.Ports {
		if (name != "" && p.Name == name) || (name == "" && p.ContainerPort == number) {
			return &c.Ports[i]
		}
	}
	return nil
}

func portNamed(c *corev1.Container, name string) int {
	if p := findPort(c, name, 0); p != nil {
		return int(p.ContainerPort)
	}
	return -1
}

func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t, k8sDir)
	if len(m.statefulSets) != 2 {
		t.Fatalf("%d StatefulSets, want 2 (config servers, data servers)", len(m.statefulSets))
	}
	names := map[string]bool{}
	unique := func(kind, name string) {
		if !dnsLabel.MatchString(name) || len(name) > 63 {
			t.Errorf("%s %q: not a DNS-1123 label", kind, name)
		}
		if names[kind+"/"+name] {
			t.Errorf("%s %s defined twice", kind, name)
		}
		names[kind+"/"+name] = true
	}
	svcByName := map[string]*corev1.Service{}
	for _, s := range m.services {
		unique("Service", s.Name)
		svcByName[s.Name] = s
	}
	for _, ss := range m.statefulSets {
		unique("StatefulSet", ss.Name)
	}
	for _, p := range m.pdbs {
		unique("PodDisruptionBudget", p.Name)
	}

	for _, ss := range m.statefulSets {
		checkStatefulSet(t, ss, svcByName)
	}
	for _, s := range m.services {
		checkService(t, s, m.statefulSets)
	}
	for _, p := range m.pdbs {
		checkPDB(t, p, m.statefulSets)
	}
	for _, ss := range m.statefulSets {
		if !slices.ContainsFunc(m.pdbs, func(p *policyv1.PodDisruptionBudget) bool {
			return p.Spec.Selector != nil && selects(p.Spec.Selector.MatchLabels, ss.Spec.Template.Labels)
		}) {
			t.Errorf("StatefulSet %s: no PodDisruptionBudget covers its pods", ss.Name)
		}
	}
	checkGranary(t, m, svcByName)
}

func checkStatefulSet(t *testing.T, ss *appsv1.StatefulSet, svcByName map[string]*corev1.Service) {
	t.Helper()
	where := "StatefulSet " + ss.Name
	spec := &ss.Spec
	if spec.Replicas == nil || *spec.Replicas < 1 {
		t.Errorf("%s: replicas not set", where)
	}
	if spec.Selector == nil || len(spec.Selector.MatchExpressions) > 0 || !selects(spec.Selector.MatchLabels, spec.Template.Labels) {
		t.Errorf("%s: the selector %v does not match the pod template's labels %v (matchLabels only)", where, spec.Selector, spec.Template.Labels)
	}
	svc := svcByName[spec.ServiceName]
	switch {
	case svc == nil:
		t.Errorf("%s: serviceName %q names no Service", where, spec.ServiceName)
	case svc.Spec.ClusterIP != corev1.ClusterIPNone:
		t.Errorf("%s: its Service %s is not headless (clusterIP: None)", where, svc.Name)
	case !selects(svc.Spec.Selector, spec.Template.Labels):
		t.Errorf("%s: its Service %s does not select its pods", where, svc.Name)
	case !svc.Spec.PublishNotReadyAddresses:
		t.Errorf("%s: its Service %s must publish not-ready addresses (members reach each other before they are ready)", where, svc.Name)
	}
	volumes := map[string]bool{}
	for _, v := range spec.Template.Spec.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range spec.VolumeClaimTemplates {
		if volumes[c.Name] {
			t.Errorf("%s: volume %s defined twice", where, c.Name)
		}
		volumes[c.Name] = true
		if c.Spec.Resources.Requests.Storage().IsZero() || len(c.Spec.AccessModes) == 0 {
			t.Errorf("%s: volumeClaimTemplate %s without a storage request or access mode", where, c.Name)
		}
	}
	if len(spec.VolumeClaimTemplates) == 0 {
		t.Errorf("%s: no volumeClaimTemplates (the data directory)", where)
	}
	pod := &spec.Template.Spec
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.FSGroup == nil {
		t.Errorf("%s: want runAsNonRoot and an fsGroup (the image runs as 65532, the volume must be writable)", where)
	}
	if len(pod.Containers) == 0 {
		t.Fatalf("%s: no container", where)
	}
	for i := range pod.Containers {
		checkContainer(t, where, &pod.Containers[i], volumes)
	}
}

func checkContainer(t *testing.T, ss string, c *corev1.Container, volumes map[string]bool) {
	t.Helper()
	where := ss + ", container " + c.Name
	if c.Image == "" {
		t.Errorf("%s: no image", where)
	}
	seenPort := map[string]bool{}
	for _, p := range c.Ports {
		if len(p.Name) > 15 || !portName.MatchString(p.Name) || seenPort[p.Name] {
			t.Errorf("%s: port name %q: want a unique name of at most 15 lowercase letters, digits and dashes", where, p.Name)
		}
		seenPort[p.Name] = true
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			t.Errorf("%s: port %s: %d out of range", where, p.Name, p.ContainerPort)
		}
	}
	for what, pr := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s", where, what)
			continue
		}
		port := findPort(c, pr.HTTPGet.Port.StrVal, pr.HTTPGet.Port.IntVal)
		if port == nil {
			t.Errorf("%s: %s port %s is not one of the container's ports", where, what, pr.HTTPGet.Port.String())
		} else if port.Name != "http" {
			t.Errorf("%s: %s asks port %s, want the HTTP port (/healthz is served there)", where, what, port.Name)
		}
		if pr.HTTPGet.Path != "/healthz" {
			t.Errorf("%s: %s path %q, want /healthz", where, what, pr.HTTPGet.Path)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("%s: want cpu and memory requests", where)
	}
	for _, vm := range c.VolumeMounts {
		if !volumes[vm.Name] {
			t.Errorf("%s: volumeMount %s names no volume or volumeClaimTemplate", where, vm.Name)
		}
	}
	env := map[string]bool{}
	for _, e := range c.Env {
		if env[e.Name] {
			t.Errorf("%s: env %s twice", where, e.Name)
		}
		env[e.Name] = true
		if e.ValueFrom == nil {
			continue
		}
		if f := e.ValueFrom.FieldRef; f != nil && !slices.Contains([]string{"metadata.name", "metadata.namespace", "status.podIP", "spec.nodeName"}, f.FieldPath) {
			t.Errorf("%s: env %s: fieldRef %s is not one the test knows", where, e.Name, f.FieldPath)
		}
		if r := e.ValueFrom.ResourceFieldRef; r != nil {
			q, ok := c.Resources.Limits[corev1.ResourceName(strings.TrimPrefix(r.Resource, "limits."))]
			if !strings.HasPrefix(r.Resource, "limits.") || !ok || q.IsZero() {
				t.Errorf("%s: env %s: resourceFieldRef %s, but the container has no such limit", where, e.Name, r.Resource)
			}
		}
		if s := e.ValueFrom.SecretKeyRef; s != nil && (s.Optional == nil || !*s.Optional) {
			t.Errorf("%s: env %s: the Secret %s is not among the manifests: make the reference optional", where, e.Name, s.Name)
		}
	}
	for _, a := range slices.Concat(c.Command, c.Args) {
		for _, ref := range envRef.FindAllStringSubmatch(a, -1) {
			if !env[ref[1]] {
				t.Errorf("%s: argument %q uses $(%s), which is not in the container's env (Kubernetes would leave it as is)", where, a, ref[1])
			}
		}
	}
}

// podsOf returns the StatefulSets whose pods a selector picks.
func podsOf(selector map[string]string, sets []*appsv1.StatefulSet) []*appsv1.StatefulSet {
	var out []*appsv1.StatefulSet
	for _, ss := range sets {
		if selects(selector, ss.Spec.Template.Labels) {
			out = append(out, ss)
		}
	}
	return out
}

func checkService(t *testing.T, s *corev1.Service, sets []*appsv1.StatefulSet) {
	t.Helper()
	where := "Service " + s.Name
	picked := podsOf(s.Spec.Selector, sets)
	if len(picked) != 1 {
		t.Errorf("%s: its selector %v picks the pods of %d StatefulSets, want 1", where, s.Spec.Selector, len(picked))
		return
	}
	ss := picked[0]
	for _, p := range s.Spec.Ports {
		if p.Name == "" || p.Port < 1 || p.Port > 65535 {
			t.Errorf("%s: port %+v: want a name and a port number", where, p)
		}
		found := false
		for i := range ss.Spec.Template.Spec.Containers {
			c := &ss.Spec.Template.Spec.Containers[i]
			num := p.TargetPort.IntVal
			if p.TargetPort.StrVal == "" && num == 0 {
				num = p.Port // no targetPort: the same number
			}
			if findPort(c, p.TargetPort.StrVal, num) != nil {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: port %s targets %s, which no container of %s exposes", where, p.Name, p.TargetPort.String(), ss.Name)
		}
	}
}

func checkPDB(t *testing.T, p *policyv1.PodDisruptionBudget, sets []*appsv1.StatefulSet) {
	t.Helper()
	where := "PodDisruptionBudget " + p.Name
	if p.Spec.Selector == nil || len(p.Spec.Selector.MatchExpressions) > 0 {
		t.Errorf("%s: want a matchLabels selector", where)
		return
	}
	picked := podsOf(p.Spec.Selector.MatchLabels, sets)
	if len(picked) != 1 {
		t.Errorf("%s: picks the pods of %d StatefulSets, want 1", where, len(picked))
		return
	}
	if (p.Spec.MaxUnavailable == nil) == (p.Spec.MinAvailable == nil) {
		t.Errorf("%s: want one of maxUnavailable and minAvailable", where)
	}
	if mu := p.Spec.MaxUnavailable; mu != nil && (mu.IntVal < 1 || mu.IntVal >= *picked[0].Spec.Replicas) {
		t.Errorf("%s: maxUnavailable %s for %d replicas", where, mu.String(), *picked[0].Spec.Replicas)
	}
}

// flags parses granary's "--name=value" and "--name value" arguments
// (boolean flags are given without a value in the manifests).
func flags(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			continue
		}
		if n, v, ok := strings.Cut(name, "="); ok {
			out[n] = v
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			out[name] = args[i+1]
			i++
		} else {
			out[name] = "true"
		}
	}
	return out
}

// port returns the port of a host:port.
func port(t *testing.T, where, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Errorf("%s: %q is not host:port", where, addr)
		return -1
	}
	return n
}

// checkGranary checks what the granary processes are told about each other.
func checkGranary(t *testing.T, m *manifests, svcByName map[string]*corev1.Service) {
	t.Helper()
	var cfg, data *appsv1.StatefulSet
	var cfgC, dataC *corev1.Container
	for _, ss := range m.statefulSets {
		c := &ss.Spec.Template.Spec.Containers[0]
		switch {
		case len(c.Args) > 0 && c.Args[0] == "config":
			cfg, cfgC = ss, c
		case len(c.Args) > 0 && c.Args[0] == "data":
			data, dataC = ss, c
		}
	}
	if cfg == nil || data == nil {
		t.Fatal("want a StatefulSet running `granary config` and one running `granary data`")
	}
	for _, c := range []*corev1.Container{cfgC, dataC} {
		if len(c.Command) > 0 {
			t.Errorf("container %s: command %v overrides the image's entrypoint (/granary): give args only", c.Name, c.Command)
		}
	}

	// Config servers: every member listed in --peers by its pod's stable name.
	cf := flags(cfgC.Args)
	raftPort, httpPort, respPort := portNamed(cfgC, "raft"), portNamed(cfgC, "http"), portNamed(cfgC, "resp")
	if cf["id"] != "$(POD_NAME)" {
		t.Errorf("config servers: --id %q, want $(POD_NAME) (the pod's name, as in --peers)", cf["id"])
	}
	var want []string
	for i := range int(*cfg.Spec.Replicas) {
		pod := cfg.Name + "-" + strconv.Itoa(i)
		want = append(want, pod+"="+pod+"."+cfg.Spec.ServiceName+":"+strconv.Itoa(raftPort))
	}
	if got := strings.Split(cf["peers"], ","); !slices.Equal(got, want) {
		t.Errorf("config servers: --peers %v, want every replica by its stable name: %v", got, want)
	}
	for flag, p := range map[string]int{"raft": raftPort, "http": httpPort, "listen": respPort} {
		if port(t, "config servers --"+flag, cf[flag]) != p {
			t.Errorf("config servers: --%s %s, want the container's port %d", flag, cf[flag], p)
		}
	}

	// Data servers: they know every config server's API, and advertise
	// their pod's stable name.
	df := flags(dataC.Args)
	var apis []string
	for i := range int(*cfg.Spec.Replicas) {
		apis = append(apis, cfg.Name+"-"+strconv.Itoa(i)+"."+cfg.Spec.ServiceName+":"+strconv.Itoa(httpPort))
	}
	if got := strings.Split(df["config-servers"], ","); !slices.Equal(got, apis) {
		t.Errorf("data servers: --config-servers %v, want %v", got, apis)
	}
	for _, c := range []*corev1.Container{cfgC, dataC} {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GRANARY_CONFIG_SERVERS" })
		if i < 0 || c.Env[i].Value != strings.Join(apis, ",") {
			t.Errorf("container %s: want GRANARY_CONFIG_SERVERS=%s (granary ctl's default)", c.Name, strings.Join(apis, ","))
		}
	}
	dResp, dHTTP := portNamed(dataC, "resp"), portNamed(dataC, "http")
	if adv := "$(POD_NAME)." + data.Spec.ServiceName + ".$(POD_NAMESPACE).svc:" + strconv.Itoa(dResp); df["advertise"] != adv {
		t.Errorf("data servers: --advertise %q, want %q", df["advertise"], adv)
	}
	if port(t, "data servers --listen", df["listen"]) != dResp || port(t, "data servers --http", df["http"]) != dHTTP {
		t.Errorf("data servers: --listen %s --http %s, want the container's ports %d and %d", df["listen"], df["http"], dResp, dHTTP)
	}
	for _, c := range []*corev1.Container{cfgC, dataC} {
		f := flags(c.Args)
		if !strings.HasPrefix(f["dir"], c.VolumeMounts[0].MountPath+"/") {
			t.Errorf("container %s: --dir %s is not on its volume (%s)", c.Name, f["dir"], c.VolumeMounts[0].MountPath)
		}
	}

	// The client Service: data servers' RESP port.
	client := svcByName["granary"]
	if client == nil || client.Spec.ClusterIP == corev1.ClusterIPNone || !selects(client.Spec.Selector, data.Spec.Template.Labels) ||
		len(client.Spec.Ports) != 1 || client.Spec.Ports[0].TargetPort.StrVal != "resp" {
		t.Errorf("want a Service granary (not headless) for clients, on the data servers' resp port")
	}
}
