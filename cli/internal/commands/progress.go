package commands

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// progressBarWidth is the bar's width in cells: short enough for the counts to fit beside
// it on an 80-column terminal.
const progressBarWidth = 24

// progressView shows a followed rollout's progress: one bar redrawn in place on a
// terminal, else one line per change, which is what a CI log or a pipe wants.
type progressView struct {
	w     io.Writer
	name  string
	tty   bool
	last  string
	drawn bool
}

// newProgressView shows progress on w, as a bar when w is a terminal that can redraw a
// line.
func newProgressView(w io.Writer, name string) *progressView {
	return &progressView{w: w, name: name, tty: isTerminal(w)}
}

// isTerminal reports whether w is a terminal that understands carriage returns and the
// erase-line escape.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// show draws r's progress if it differs from what is shown.
func (v *progressView) show(r *contentv1.Rollout) {
	done, total, counts := progressCounts(r)
	state := rolloutStateName(r.GetState())
	if v.tty {
		line := fmt.Sprintf("%s %s %d/%d  %s  %s", v.name, bar(done, total), done, total, state, counts)
		if line == v.last {
			return
		}
		// \r returns to the line's start, \x1b[K erases what a longer line left.
		fmt.Fprintf(v.w, "\r%s\x1b[K", line)
		v.last, v.drawn = line, true
		return
	}
	line := fmt.Sprintf("%s: %s, %d/%d done (%s)", v.name, state, done, total, counts)
	if line != v.last {
		fmt.Fprintln(v.w, line)
		v.last = line
	}
}

// close ends the bar's line, so that what follows starts on a line of its own.
func (v *progressView) close() {
	if v.drawn {
		fmt.Fprintln(v.w)
		v.drawn = false
	}
}

// progressCounts is how far r is: tenants done out of total and the counts by status. While
// a rollout is rolling back, done counts the tenants returned out of those to return.
func progressCounts(r *contentv1.Rollout) (done, total int32, counts string) {
	p := r.GetProgress()
	switch r.GetState() {
	case contentv1.Rollout_STATE_ROLLING_BACK, contentv1.Rollout_STATE_ROLLED_BACK:
		done, total = p.GetRolledBack(), p.GetRolledBack()+p.GetSucceeded()
		return done, total, fmt.Sprintf("rolled back %d, failed %d", p.GetRolledBack(), p.GetFailed())
	}
	done = p.GetSucceeded() + p.GetFailed() + p.GetSkipped() + p.GetCancelled() + p.GetRolledBack()
	counts = fmt.Sprintf("succeeded %d, failed %d, skipped %d, cancelled %d", p.GetSucceeded(), p.GetFailed(), p.GetSkipped(), p.GetCancelled())
	return done, p.GetTotal(), counts
}

// bar draws done/total as a bar of progressBarWidth cells.
func bar(done, total int32) string {
	filled := progressBarWidth
	if total > 0 {
		filled = int(int64(done) * progressBarWidth / int64(total))
	}
	filled = min(max(filled, 0), progressBarWidth)
	return "[" + strings.Repeat("█", filled) + strings.Repeat("░", progressBarWidth-filled) + "]"
}
