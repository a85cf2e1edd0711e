package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"granary/internal/dataserver"
)

// flowFlag is --flow-limit: flow limits of namespaces by id, each given as
// ID:ops=N[,bytes=SIZE] (either key may come alone). The flag may be
// repeated; a config file gives a YAML list, which reaches Set as "[a b]".
type flowFlag map[uint16]dataserver.FlowLimit

func (f *flowFlag) Type() string { return "ID:ops=N,bytes=SIZE" }

func (f *flowFlag) String() string {
	if f == nil || len(*f) == 0 {
		return ""
	}
	var out []string
	for _, id := range slices.Sorted(maps.Keys(*f)) {
		l := (*f)[id]
		out = append(out, fmt.Sprintf("%d:ops=%d,bytes=%d", id, l.Ops, l.Bytes))
	}
	return strings.Join(out, " ")
}

func (f *flowFlag) Set(s string) error {
	if *f == nil {
		*f = flowFlag{}
	}
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "["), "]")
	for _, entry := range strings.Fields(s) {
		id, l, err := parseFlowLimit(entry)
		if err != nil {
			return err
		}
		(*f)[id] = l
	}
	return nil
}

func parseFlowLimit(entry string) (uint16, dataserver.FlowLimit, error) {
	var l dataserver.FlowLimit
	idText, spec, ok := strings.Cut(entry, ":")
	if !ok || spec == "" {
		return 0, l, fmt.Errorf("%q: want ID:ops=N[,bytes=SIZE], e.g. 1:ops=5000,bytes=10mb", entry)
	}
	id, err := parseNamespaceID(idText)
	if err != nil {
		return 0, l, err
	}
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(kv, "=")
		var n int64
		switch k {
		case "ops":
			n, err = strconv.ParseInt(v, 10, 64)
			l.Ops = n
		case "bytes":
			n, err = parseSize(v)
			l.Bytes = n
		default:
			return 0, l, fmt.Errorf("%q: unknown limit %q (want ops= or bytes=)", entry, k)
		}
		if err != nil || n < 0 {
			return 0, l, fmt.Errorf("%q: %s=%q: want 0 or more (0: no limit)", entry, k, v)
		}
	}
	return id, l, nil
}
