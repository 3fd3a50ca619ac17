package commands

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"google.golang.org/protobuf/proto"

	"github.com/oriel-dev/oriel/cli/internal/client"
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

// reloadView shows a followed reload on stderr, a line per event, terminal or not: its log
// is the progress a person wants to read back, which a bar redrawn in place would erase.
type reloadView struct {
	w     io.Writer
	name  string
	state contentv1.Reload_State
	// tables is how many of the reload's tables are shown.
	tables int
	// logShown counts the log lines shown; lastLog is the last of them.
	logShown int
	lastLog  *contentv1.ReloadLogLine
}

func newReloadView(w io.Writer, name string) *reloadView { return &reloadView{w: w, name: name} }

// show writes what is new in r: its log lines, the tables it loaded, its state.
func (v *reloadView) show(r *contentv1.Reload) {
	if r.GetState() != v.state && !client.ReloadEnded(r.GetState()) {
		v.showState(r)
	}
	fresh, gap := v.newLog(r.GetLog())
	if gap {
		fmt.Fprintln(v.w, "  …  (lines the reload's log no longer keeps)")
	}
	for _, l := range fresh {
		fmt.Fprintf(v.w, "  %s  %s\n", logTime(l), oneLine(l.GetMessage()))
	}
	for _, t := range r.GetTables()[min(v.tables, len(r.GetTables())):] {
		fmt.Fprintf(v.w, "%s: loaded %s, %s\n", v.name, oneLine(t.GetName()), plural(int(t.GetRows()), "row"))
	}
	v.tables = max(v.tables, len(r.GetTables()))
	if r.GetState() != v.state {
		v.showState(r)
	}
}

func (v *reloadView) showState(r *contentv1.Reload) {
	fmt.Fprintf(v.w, "%s: %s\n", v.name, reloadStateName(r.GetState()))
	v.state = r.GetState()
}

// maxKeptLogHead is how many of a long log's first lines the edge keeps before the last
// ones (see Reload.log).
const maxKeptLogHead = 500

// newLog is the part of log not shown yet. A log keeps its first and last lines only, so
// past a thousand lines its middle moves on: what follows the last line shown is new, and
// when that line is gone, what follows the kept head, after a gap (lines dropped before
// they could be shown).
func (v *reloadView) newLog(log []*contentv1.ReloadLogLine) (fresh []*contentv1.ReloadLogLine, gap bool) {
	switch {
	case v.logShown == 0:
		fresh = log
	case v.logShown <= len(log) && proto.Equal(log[v.logShown-1], v.lastLog):
		fresh = log[v.logShown:]
	default:
		fresh, gap = log[min(maxKeptLogHead, len(log)):], true
		for i := len(log) - 1; i >= 0; i-- {
			if proto.Equal(log[i], v.lastLog) {
				fresh, gap = log[i+1:], false
				break
			}
		}
	}
	if len(fresh) > 0 {
		v.lastLog = fresh[len(fresh)-1]
	}
	v.logShown += len(fresh)
	return fresh, gap
}
