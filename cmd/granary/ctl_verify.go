package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"granary/internal/clusterapi"
	"granary/internal/namespace"
	"granary/internal/routing"
	"granary/internal/verify"
)

// verifyShown bounds the differing buckets printed one per line.
const verifyShown = 20

func ctlVerifyCmd(e *ctlEnv) *cobra.Command {
	o := verify.Options{}
	var buckets string
	var quiet bool
	var keyBuckets int
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that every bucket's replicas hold the same data (and repair them with --repair)",
		Long: `Ask every replica of every bucket for a digest of its copy (GRANARY.DIGEST on
the data servers' RESP ports: an order-independent hash of every item, per
namespace, taken under the bucket's lock with the bucket's LSN) and compare the
replicas of each bucket taken at the same LSN. A bucket whose replicas are at
different LSNs (writes are flowing) is asked again, and reported unsettled
after --tries rounds.

With --repair, the primary of each differing bucket sends the differing
secondaries a fresh snapshot (the primary's copy wins), and the buckets are
checked again.

Namespaces that evicted items (a memory quota) may legitimately differ:
replication does not ship evictions. Their differences are reported apart and
do not fail the check, unless --strict.

Exit status 1 when replicas differ (after the repair, with --repair) or a
bucket could not be compared.`,
		Example: `  granary ctl verify
  granary ctl verify --buckets 0-1023 --namespace 2
  granary ctl verify --repair
  granary ctl --json verify | jq '.different'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			first, last, err := parseBucketRange(buckets)
			if err != nil {
				return err
			}
			if o.Namespace < -1 || o.Namespace > namespace.Max {
				return fmt.Errorf("--namespace %d: want 0-%d, or -1 for all", o.Namespace, namespace.Max)
			}
			st, err := e.state(cmd)
			if err != nil {
				return err
			}
			o.TLS = e.tls.cfg // the data servers' RESP ports take the same CA and client certificate
			if o.Replicas, err = bucketReplicas(st, first, last); err != nil {
				return err
			}
			if o.MaxKeyBuckets = keyBuckets; keyBuckets <= 0 {
				o.MaxKeyBuckets = -1
			}
			if o.Password == "" {
				o.Password = os.Getenv("GRANARY_PASSWORD")
			}
			if o.Logger, err = newLogger(cmd); err != nil {
				return err
			}
			if !quiet && !e.json && isTerminal(os.Stderr) {
				o.Progress = os.Stderr
			}
			rep, err := verify.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if e.json {
				err = printJSON(out, rep)
			} else {
				err = printVerify(out, rep, o.Repair)
			}
			if err != nil {
				return err
			}
			switch {
			case len(rep.Remaining) > 0:
				return fmt.Errorf("replicas differ in %d buckets", len(rep.Remaining))
			case len(rep.Unsettled) > 0:
				return fmt.Errorf("%d buckets could not be compared", len(rep.Unsettled))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Repair, "repair", false, "have each differing bucket's primary send the differing secondaries a fresh snapshot, then check again")
	f.StringVar(&buckets, "buckets", "", "buckets to check: N or FIRST-LAST (default: all 0-16383)")
	f.IntVarP(&o.Namespace, "namespace", "n", -1, "check only this namespace, 0-65535 (-1: all)")
	f.BoolVar(&o.Strict, "strict", false, "count differences in namespaces that evicted items (memory quota) as differences")
	f.IntVar(&keyBuckets, "keys", 20, "differing buckets whose differing keys are listed, 10 keys each (0: none)")
	f.IntVar(&o.Parallel, "parallel", 4, "digest commands in flight at once, over all data servers")
	f.IntVar(&o.Tries, "tries", 5, "rounds a bucket whose replicas are at different LSNs is asked again before it is reported unsettled")
	f.StringVar(&o.Username, "user", "", "user to AUTH as on the data servers (empty: the default user)")
	f.StringVar(&o.Password, "password", "", "password for the data servers (env GRANARY_PASSWORD)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	addLogFlags(cmd)
	return cmd
}

// parseBucketRange parses "", "N" or "FIRST-LAST".
func parseBucketRange(s string) (first, last int, err error) {
	if s == "" {
		return 0, routing.Buckets - 1, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	bad := fmt.Errorf("--buckets %q: want N or FIRST-LAST within 0-%d", s, routing.Buckets-1)
	if first, err = strconv.Atoi(a); err != nil {
		return 0, 0, bad
	}
	last = first
	if isRange {
		if last, err = strconv.Atoi(b); err != nil {
			return 0, 0, bad
		}
	}
	if first < 0 || last >= routing.Buckets || first > last {
		return 0, 0, bad
	}
	return first, last, nil
}

// bucketReplicas maps each bucket of first..last that has replicas to them,
// primary first, with their RESP addresses.
func bucketReplicas(st *clusterapi.State, first, last int) (map[uint16][]verify.Replica, error) {
	addr := map[string]string{}
	for _, n := range st.Nodes {
		addr[n.ID] = n.Addr
	}
	out := map[uint16][]verify.Replica{}
	for _, r := range st.Table.Ranges {
		for b := max(r.First, first); b <= min(r.Last, last); b++ {
			for _, x := range r.Replicas {
				if x < 0 || x >= len(st.Table.Nodes) {
					return nil, fmt.Errorf("table: bucket %d names node %d of %d", b, x, len(st.Table.Nodes))
				}
				id := st.Table.Nodes[x]
				if addr[id] == "" {
					return nil, fmt.Errorf("table: bucket %d is on node %s, whose address is unknown", b, id)
				}
				out[uint16(b)] = append(out[uint16(b)], verify.Replica{ID: id, Addr: addr[id]})
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no bucket in that range has a replica (is the table built? see 'granary ctl status')")
	}
	return out, nil
}

// isTerminal reports whether f is a terminal (for progress bars).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// printVerify prints a verification report for people.
func printVerify(w io.Writer, rep *verify.Report, repair bool) error {
	tw := newTab(w)
	fmt.Fprintf(tw, "buckets checked:\t%d (%d more have a single copy)\n", rep.Checked, rep.Single)
	fmt.Fprintf(tw, "equal:\t%d\n", rep.Equal)
	fmt.Fprintf(tw, "different:\t%d\n", len(rep.Different))
	if len(rep.Evicted) > 0 {
		fmt.Fprintf(tw, "different by evictions:\t%d (namespaces with a memory quota; not counted, see --strict)\n", len(rep.Evicted))
	}
	fmt.Fprintf(tw, "unsettled:\t%d\n", len(rep.Unsettled))
	if repair {
		fmt.Fprintf(tw, "repaired:\t%d\n", rep.Repaired)
		fmt.Fprintf(tw, "still different:\t%d\n", len(rep.Remaining))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printDiffs(w, "different", rep.Different)
	printDiffs(w, "different by evictions", rep.Evicted)
	for i, u := range rep.Unsettled {
		if i == verifyShown {
			fmt.Fprintf(w, "  ... %d more unsettled\n", len(rep.Unsettled)-i)
			break
		}
		fmt.Fprintf(w, "unsettled bucket %d: %s\n", u.Bucket, u.Why)
	}
	return nil
}

// keyKinds words verify.KeyDiff's kinds for people.
var keyKinds = map[string]string{
	"missing": "missing",
	"extra":   "only",
	"differs": "different",
}

func printDiffs(w io.Writer, what string, diffs []verify.Diff) {
	for i, d := range diffs {
		if i == verifyShown {
			fmt.Fprintf(w, "  ... %d more %s\n", len(diffs)-i, what)
			return
		}
		parts := make([]string, len(d.Replicas))
		for j, r := range d.Replicas {
			role := "secondary"
			if j == 0 {
				role = "primary"
			}
			mark := ""
			if r.Differs {
				mark = " DIFFERS"
			}
			parts[j] = fmt.Sprintf("%s %s (%s) %d items%s", role, r.ID, r.Addr, r.Items, mark)
		}
		fmt.Fprintf(w, "%s bucket %d at LSN %d: %s\n", what, d.Bucket, d.LSN, strings.Join(parts, "; "))
		for _, k := range d.Keys {
			fmt.Fprintf(w, "  namespace %d key %q: %s on %s\n", k.NS, k.Key, keyKinds[k.Kind], k.Node)
		}
		if d.KeysNote != "" {
			fmt.Fprintf(w, "  (%s)\n", d.KeysNote)
		}
	}
}
