package commands

import (
	"fmt"
	"io"
	"iter"
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

// statusLine is the one way the CLI shows the progress of something it follows (a rollout,
// a reload) on stderr: on a terminal, one status line redrawn in place, with any lines to
// keep (a reload's log) printed above it; elsewhere, which is a CI log or a pipe, a line
// per change, since a redrawn line would be noise there.
type statusLine struct {
	w   io.Writer
	tty bool
	// last is what was last drawn or written; drawn is whether a status line is on the
	// screen, unfinished.
	last  string
	drawn bool
}

// newStatusLine shows progress on w, redrawing a line when w is a terminal that can.
func newStatusLine(w io.Writer) *statusLine { return &statusLine{w: w, tty: isTerminal(w)} }

// isTerminal reports whether w is a terminal that understands carriage returns and the
// erase-line escape.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// update shows a new state: bar redrawn on a terminal, else line written; either only if
// it differs from the last shown.
func (l *statusLine) update(bar, line string) {
	if l.tty {
		if bar == l.last && l.drawn {
			return
		}
		// \r returns to the line's start, \x1b[K erases what a longer line left.
		fmt.Fprintf(l.w, "\r%s\x1b[K", bar)
		l.last, l.drawn = bar, true
		return
	}
	if line != l.last {
		fmt.Fprintln(l.w, line)
		l.last = line
	}
}

// println writes a line to keep, above the status line on a terminal.
func (l *statusLine) println(line string) {
	if !l.tty || !l.drawn {
		fmt.Fprintln(l.w, line)
		return
	}
	fmt.Fprintf(l.w, "\r\x1b[K%s\n%s\x1b[K", line, l.last)
}

// close ends the status line, so that what follows starts on a line of its own.
func (l *statusLine) close() {
	if l.drawn {
		fmt.Fprintln(l.w)
		l.drawn = false
	}
}

// progressView shows a followed rollout's progress: a bar of the tenants done out of the
// total, with the counts by status.
// view shows each state of what a command follows (a rollout, a reload) as it changes.
type view[T any] interface {
	show(T)
	close()
}

// watch shows every state seq reports in v until it ends, and returns the last one (or
// last, when none came) and the error that ended the watching, if any; v is closed
// either way.
func watch[T any](seq iter.Seq2[T, error], v view[T], last T) (T, error) {
	defer v.close()
	for r, err := range seq {
		if err != nil {
			return last, err
		}
		last = r
		v.show(r)
	}
	return last, nil
}

type progressView struct {
	line *statusLine
	name string
}

// newProgressView shows a rollout's progress on w.
func newProgressView(w io.Writer, name string) *progressView {
	return &progressView{line: newStatusLine(w), name: name}
}

// show draws r's progress if it differs from what is shown.
func (v *progressView) show(r *contentv1.Rollout) {
	done, total, counts := progressCounts(r)
	state := rolloutStateName(r.GetState())
	v.line.update(
		fmt.Sprintf("%s %s %d/%d  %s  %s", v.name, bar(done, total), done, total, state, counts),
		fmt.Sprintf("%s: %s, %d/%d done (%s)", v.name, state, done, total, counts))
}

// close ends the bar's line.
func (v *progressView) close() { v.line.close() }

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

// reloadView shows a followed reload on stderr. Its log lines and the tables it loaded
// are lines to keep, whatever the output: they are what a person reads back. On a terminal
// a bar under them shows the reload's state, tables and rows so far; elsewhere a line says
// each change of state.
//
// A reload does not know its script's size, so the bar cannot be a share of a total: it
// moves one cell for each table and log line that arrives, so a stalled reload is a bar
// that stops, and it is full once the reload SUCCEEDED.
type reloadView struct {
	line  *statusLine
	name  string
	state contentv1.Reload_State
	// tables is how many of the reload's tables are shown.
	tables int
	// logShown counts the log lines shown; lastLog is the last of them.
	logShown int
	lastLog  *contentv1.ReloadLogLine
	// steps is how far the bar moved.
	steps int
}

func newReloadView(w io.Writer, name string) *reloadView {
	return &reloadView{line: newStatusLine(w), name: name}
}

// show writes what is new in r: its log lines, the tables it loaded, its state.
func (v *reloadView) show(r *contentv1.Reload) {
	if !v.line.tty && r.GetState() != v.state && !client.ReloadEnded(r.GetState()) {
		v.showState(r)
	}
	fresh, gap := v.newLog(r.GetLog())
	if gap {
		v.line.println("  …  (lines the reload's log no longer keeps)")
	}
	for _, l := range fresh {
		v.line.println(fmt.Sprintf("  %s  %s", logTime(l), oneLine(l.GetMessage())))
	}
	newTables := r.GetTables()[min(v.tables, len(r.GetTables())):]
	for _, t := range newTables {
		v.line.println(fmt.Sprintf("%s: loaded %s, %s", v.name, oneLine(t.GetName()), plural(int(t.GetRows()), "row")))
	}
	v.tables = max(v.tables, len(r.GetTables()))
	v.steps += len(fresh) + len(newTables)
	if v.line.tty {
		v.line.update(v.bar(r), "")
		v.state = r.GetState()
		return
	}
	if r.GetState() != v.state {
		v.showState(r)
	}
}

// bar is the reload's status line on a terminal.
func (v *reloadView) bar(r *contentv1.Reload) string {
	var rows int64
	for _, t := range r.GetTables() {
		rows += t.GetRows()
	}
	return fmt.Sprintf("%s %s %s  %s, %s", v.name, activityBar(v.steps, r.GetState()), reloadStateName(r.GetState()),
		plural(len(r.GetTables()), "table"), plural(int(rows), "row"))
}

// activityBar is a bar for work of unknown size: empty while queued, a block that moves
// a cell per step while running, full once succeeded, and where it stopped otherwise.
func activityBar(steps int, state contentv1.Reload_State) string {
	const block = 4
	cells := []rune(strings.Repeat("░", progressBarWidth))
	switch state {
	case contentv1.Reload_STATE_QUEUED, contentv1.Reload_STATE_UNSPECIFIED:
	case contentv1.Reload_STATE_SUCCEEDED:
		return bar(1, 1)
	default:
		start := steps % progressBarWidth
		for i := range block {
			cells[(start+i)%progressBarWidth] = '█'
		}
	}
	return "[" + string(cells) + "]"
}

// close ends the bar's line.
func (v *reloadView) close() { v.line.close() }

func (v *reloadView) showState(r *contentv1.Reload) {
	v.line.println(fmt.Sprintf("%s: %s", v.name, reloadStateName(r.GetState())))
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
