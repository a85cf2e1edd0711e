// Package progress draws the progress bars of long operator commands
// (import, export, rebalance) on a terminal.
package progress

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// New returns a progress bar on w (a silent one when w is nil) counting to
// total (-1: unknown, a spinner with a count) of unit ("bytes" shows sizes).
func New(w io.Writer, total int64, what, unit string) *progressbar.ProgressBar {
	if w == nil {
		return progressbar.DefaultSilent(total)
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200 * time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionOnCompletion(func() { io.WriteString(w, "\n") }),
		progressbar.OptionFullWidth(),
	}
	if unit == "bytes" {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString(unit))
	}
	return progressbar.NewOptions64(total, opts...)
}
