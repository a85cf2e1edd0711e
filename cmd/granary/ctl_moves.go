package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"granary/internal/clusterapi"
	"granary/internal/progress"
)

// moveFlags are the flags of the commands that start a migration.
type moveFlags struct {
	wait    bool
	quiet   bool
	maxWait time.Duration
}

func (f *moveFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until the buckets are laid out as planned, with a progress bar on standard error")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "with --wait: no progress bar")
	cmd.Flags().DurationVar(&f.maxWait, "max-wait", time.Hour, "with --wait: give up waiting after this long (the migration goes on)")
}

func ctlRebalanceCmd(e *ctlEnv) *cobra.Command {
	var f moveFlags
	cmd := &cobra.Command{
		Use:   "rebalance",
		Short: "Plan a balanced layout and migrate the buckets to it online",
		Long: `Run the table builder on the current table and the nodes' states (new nodes
take their share, draining nodes give all of theirs away) and commit the
result as the migration plan. The config servers then move the buckets online,
a few at a time per node: each new copy joins its bucket as a learner, gets a
snapshot and the log from the primary, and is flipped in once caught up; a
bucket whose primary moves is held (TRYAGAIN) for the handover only.

It prints how many copies the plan moves next to the least any balanced layout
must move (X/(M+X) when X empty nodes join M). With --wait it follows the
migration until it is done.`,
		Example: `  granary ctl node add 4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d
  granary ctl rebalance --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.startPlan(cmd, &f, func(ctx context.Context, c *clusterapi.Client) (*clusterapi.Rebalance, error) {
				return c.Rebalance(ctx)
			})
		},
	}
	f.register(cmd)
	return cmd
}

func ctlNodeUndrainCmd(e *ctlEnv) *cobra.Command {
	var f moveFlags
	cmd := &cobra.Command{
		Use:   "undrain ID",
		Short: "Let a draining data server hold buckets again, and move its share back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.startPlan(cmd, &f, func(ctx context.Context, c *clusterapi.Client) (*clusterapi.Rebalance, error) {
				return c.UndrainNode(ctx, args[0])
			})
		},
	}
	f.register(cmd)
	return cmd
}

func ctlNodeDrainCmd(e *ctlEnv) *cobra.Command {
	var f moveFlags
	cmd := &cobra.Command{
		Use:   "drain ID",
		Short: "Move every bucket copy off a data server, online (then remove it)",
		Long: `Mark the data server draining and plan moving all its copies to the other
nodes (as granary ctl rebalance does). It keeps serving while its buckets
move. Once granary ctl moves shows nothing left, remove it with
granary ctl node remove ID.`,
		Example: `  granary ctl node drain 4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d --wait
  granary ctl node remove 4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.startPlan(cmd, &f, func(ctx context.Context, c *clusterapi.Client) (*clusterapi.Rebalance, error) {
				return c.DrainNode(ctx, args[0])
			})
		},
	}
	f.register(cmd)
	return cmd
}

// startPlan commits a plan with start and follows it (followPlan).
func (e *ctlEnv) startPlan(cmd *cobra.Command, f *moveFlags, start func(context.Context, *clusterapi.Client) (*clusterapi.Rebalance, error)) error {
	var rb *clusterapi.Rebalance
	if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
		rb, err = start(ctx, c)
		return err
	}); err != nil {
		return err
	}
	return e.followPlan(cmd, rb, f)
}

// followPlan prints a committed plan and, with --wait, follows it.
func (e *ctlEnv) followPlan(cmd *cobra.Command, rb *clusterapi.Rebalance, f *moveFlags) error {
	out := cmd.OutOrStdout()
	if e.json && !f.wait {
		return printJSON(out, rb)
	}
	if !e.json {
		if !rb.Planned {
			fmt.Fprintln(out, "the table is balanced already: nothing to move")
			return nil
		}
		fmt.Fprintf(out, "plan: %d of %d copies move (%.1f%%; the least any balanced layout moves: %.1f%%), %d primaries change node\n",
			rb.Moved, rb.Copies, 100*rb.MovedFraction, 100*rb.IdealFraction, rb.PrimaryMoves)
	}
	if !f.wait {
		if !e.json {
			fmt.Fprintln(out, "the buckets move in the background: follow them with granary ctl moves")
		}
		return nil
	}
	return e.followMoves(cmd, f, "migration done in %v: epoch %d\n")
}

// followMoves waits for the migration (waitMoves, with a progress bar unless
// -q or --json) and prints the time it took and the epoch with done (or the
// moves as JSON).
func (e *ctlEnv) followMoves(cmd *cobra.Command, f *moveFlags, done string) error {
	var bar io.Writer = os.Stderr
	if f.quiet || e.json {
		bar = nil
	}
	start := time.Now()
	m, err := e.waitMoves(cmd, bar, f.maxWait)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(cmd.OutOrStdout(), m)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), done, time.Since(start).Round(100*time.Millisecond), m.Epoch)
	return err
}

// waitMoves polls the migration until no plan is left, drawing the buckets
// left as a progress bar on w (nil: none).
func (e *ctlEnv) waitMoves(cmd *cobra.Command, w io.Writer, maxWait time.Duration) (*clusterapi.Moves, error) {
	deadline := time.Now().Add(maxWait)
	total := -1
	var bar interface {
		Set(int) error
		Finish() error
		Describe(string)
	}
	var sent0 uint64
	start := time.Now()
	for {
		var m *clusterapi.Moves
		if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
			m, err = c.Moves(ctx)
			return err
		}); err != nil {
			return nil, err
		}
		if total < 0 && m.Left > 0 {
			total, sent0 = m.Left, m.SentBytes
			bar = progress.New(w, int64(total), "moving", "buckets")
		}
		if bar != nil {
			if sent := m.SentBytes - min(sent0, m.SentBytes); sent > 0 {
				mb := float64(sent) / (1 << 20)
				bar.Describe(fmt.Sprintf("moving (%.0f MB copied, %.1f MB/s)", mb, mb/max(time.Since(start).Seconds(), 0.001)))
			}
			bar.Set(total - min(m.Left, total))
		}
		if !m.Planned {
			if bar != nil {
				bar.Finish()
			}
			return m, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("still %d buckets to move after %v: the migration goes on (granary ctl moves)", m.Left, maxWait)
		}
		select {
		case <-cmd.Context().Done():
			return nil, cmd.Context().Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func ctlMovesCmd(e *ctlEnv) *cobra.Command {
	var f moveFlags
	cmd := &cobra.Command{
		Use:   "moves",
		Short: "Show the bucket migration in progress",
		Long: `Show the migration plan's progress (buckets not yet laid out as planned) and
the buckets moving now: copying (a learner catches up from the primary) or
handover (the primary holds the bucket until its new primary has everything).
--wait follows it with a progress bar until it is done.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.wait {
				return e.followMoves(cmd, &f, "no migration in progress (waited %v): epoch %d\n")
			}
			var m *clusterapi.Moves
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
				m, err = c.Moves(ctx)
				return err
			}); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if e.json {
				return printJSON(out, m)
			}
			if !m.Planned {
				fmt.Fprintf(out, "no migration in progress (epoch %d)\n", m.Epoch)
				return nil
			}
			fmt.Fprintf(out, "epoch %d: %d buckets left to move, %d moving now\n", m.Epoch, m.Left, len(m.Active))
			tw := newTab(out)
			fmt.Fprintln(tw, "BUCKET\tPHASE\tPRIMARY\tLEARNER")
			for i, mv := range m.Active {
				if i == 20 {
					fmt.Fprintf(tw, "...\t%d more\t\t\n", len(m.Active)-i)
					break
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", mv.Bucket, mv.Phase, mv.Primary, orDash(mv.Learner))
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	return cmd
}
