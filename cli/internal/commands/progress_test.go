package commands

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

func rolloutAt(state contentv1.Rollout_State, p *contentv1.Progress) *contentv1.Rollout {
	return &contentv1.Rollout{Name: "rollouts/r1", State: state, Progress: p}
}

func TestProgressViewRedrawsOneBarOnATerminal(t *testing.T) {
	var out bytes.Buffer
	v := &progressView{line: &statusLine{w: &out, tty: true}, name: "rollouts/r1"}
	v.show(rolloutAt(contentv1.Rollout_STATE_RUNNING, &contentv1.Progress{Total: 4, Pending: 3, Applying: 1}))
	v.show(rolloutAt(contentv1.Rollout_STATE_RUNNING, &contentv1.Progress{Total: 4, Pending: 3, Applying: 1})) // no change: nothing drawn
	v.show(rolloutAt(contentv1.Rollout_STATE_COMPLETED, &contentv1.Progress{Total: 4, Succeeded: 2, Failed: 1, Skipped: 1}))
	v.close()
	want := "\rrollouts/r1 [░░░░░░░░░░░░░░░░░░░░░░░░] 0/4  RUNNING  succeeded 0, failed 0, skipped 0, cancelled 0\x1b[K" +
		"\rrollouts/r1 [████████████████████████] 4/4  COMPLETED  succeeded 2, failed 1, skipped 1, cancelled 0\x1b[K\n"
	if got := out.String(); got != want {
		t.Errorf("terminal output = %q\nwant %q", got, want)
	}
}

func TestProgressViewWritesALinePerChangeElsewhere(t *testing.T) {
	var out bytes.Buffer
	v := newProgressView(&out, "rollouts/r1") // a buffer is no terminal
	v.show(rolloutAt(contentv1.Rollout_STATE_RUNNING, &contentv1.Progress{Total: 4, Succeeded: 1, Pending: 3}))
	v.show(rolloutAt(contentv1.Rollout_STATE_RUNNING, &contentv1.Progress{Total: 4, Succeeded: 1, Pending: 3}))
	v.show(rolloutAt(contentv1.Rollout_STATE_ROLLING_BACK, &contentv1.Progress{Total: 4, Succeeded: 3, RolledBack: 1}))
	v.close()
	want := []string{
		"rollouts/r1: RUNNING, 1/4 done (succeeded 1, failed 0, skipped 0, cancelled 0)",
		"rollouts/r1: ROLLING_BACK, 1/4 done (rolled back 1, failed 0)",
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines = %q\nwant %q", got, want)
	}
}

func TestBarFillsInProportion(t *testing.T) {
	for _, tc := range []struct {
		done, total int32
		filled      int
	}{{0, 10, 0}, {5, 10, 12}, {10, 10, 24}, {1, 3, 8}, {0, 0, 24}, {12, 10, 24}} {
		b := bar(tc.done, tc.total)
		if n := strings.Count(b, "█"); n != tc.filled || strings.Count(b, "░") != progressBarWidth-tc.filled {
			t.Errorf("bar(%d, %d) = %s: %d filled, want %d", tc.done, tc.total, b, n, tc.filled)
		}
	}
}

// reloadLog is a reload's log as the edge keeps it: lines first to last of n, the first
// 500 and the last 500 when there are more than 1000.
func reloadLog(n int) []*contentv1.ReloadLogLine {
	var log []*contentv1.ReloadLogLine
	for i := 1; i <= n; i++ {
		if n > 1000 && i > 500 && i <= n-500 {
			continue
		}
		log = append(log, &contentv1.ReloadLogLine{Message: "line " + strconv.Itoa(i)})
	}
	return log
}

func TestReloadViewShowsEachLogLineOnceEvenAsTheKeptLogMoves(t *testing.T) {
	var out bytes.Buffer
	v := newReloadView(&out, "r")
	for _, n := range []int{0, 2, 2, 999, 1000, 1001, 1003, 1600} {
		v.show(&contentv1.Reload{State: contentv1.Reload_STATE_RUNNING, Log: reloadLog(n)})
	}
	v.show(&contentv1.Reload{State: contentv1.Reload_STATE_SUCCEEDED, Log: reloadLog(1600)})
	var want []string
	want = append(want, "r: RUNNING")
	for i := 1; i <= 1003; i++ {
		want = append(want, "    line "+strconv.Itoa(i))
	}
	// From 1003 lines to 1600 in one step, 1004 to 1100 left the kept log unseen.
	want = append(want, "  …  (lines the reload's log no longer keeps)")
	for i := 1101; i <= 1600; i++ {
		want = append(want, "    line "+strconv.Itoa(i))
	}
	want = append(want, "r: SUCCEEDED")
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("shown %d lines, want %d: each line kept once, in order, and the gap marked", len(got), len(want))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("first difference at %d: %q, want %q", i, got[i], want[i])
				break
			}
		}
	}
}

func TestReloadViewDrawsABarUnderItsLinesOnATerminal(t *testing.T) {
	var out bytes.Buffer
	v := &reloadView{line: &statusLine{w: &out, tty: true}, name: "r"}
	orders := &contentv1.ReloadTable{Name: "orders", Rows: 1000}
	regions := &contentv1.ReloadTable{Name: "regions", Rows: 3}
	v.show(&contentv1.Reload{State: contentv1.Reload_STATE_QUEUED})
	v.show(&contentv1.Reload{State: contentv1.Reload_STATE_QUEUED}) // no change: nothing drawn
	v.show(&contentv1.Reload{State: contentv1.Reload_STATE_RUNNING, Log: reloadLog(1), Tables: []*contentv1.ReloadTable{orders}})
	v.show(&contentv1.Reload{State: contentv1.Reload_STATE_SUCCEEDED, Log: reloadLog(1), Tables: []*contentv1.ReloadTable{orders, regions}})
	v.close()
	queued := "r [░░░░░░░░░░░░░░░░░░░░░░░░] QUEUED  0 tables, 0 rows"
	// Two steps (a log line, a table) move the block two cells.
	running := "r [░░████░░░░░░░░░░░░░░░░░░] RUNNING  1 table, 1000 rows"
	done := "r [████████████████████████] SUCCEEDED  2 tables, 1003 rows"
	want := "\r" + queued + "\x1b[K" +
		// Each line to keep erases the bar, is written, and the bar comes back under it.
		"\r\x1b[K    line 1\n" + queued + "\x1b[K" +
		"\r\x1b[Kr: loaded orders, 1000 rows\n" + queued + "\x1b[K" +
		"\r" + running + "\x1b[K" +
		"\r\x1b[Kr: loaded regions, 3 rows\n" + running + "\x1b[K" +
		"\r" + done + "\x1b[K\n"
	if got := out.String(); got != want {
		t.Errorf("terminal output = %q\nwant %q", got, want)
	}
}

func TestReloadViewWritesOnlyLinesElsewhere(t *testing.T) {
	var out bytes.Buffer
	v := newReloadView(&out, "r") // a buffer is no terminal
	v.show(&contentv1.Reload{State: contentv1.Reload_STATE_RUNNING, Tables: []*contentv1.ReloadTable{{Name: "orders", Rows: 1}}})
	v.show(&contentv1.Reload{State: contentv1.Reload_STATE_SUCCEEDED, Tables: []*contentv1.ReloadTable{{Name: "orders", Rows: 1}}})
	v.close()
	if got, want := out.String(), "r: RUNNING\nr: loaded orders, 1 row\nr: SUCCEEDED\n"; got != want {
		t.Errorf("output = %q, want %q (no bar, no escapes)", got, want)
	}
}

func TestActivityBarShowsStateWithoutATotal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		steps  int
		state  contentv1.Reload_State
		filled int
	}{
		{"queued is empty", 5, contentv1.Reload_STATE_QUEUED, 0},
		{"running is a block", 0, contentv1.Reload_STATE_RUNNING, 4},
		{"the block wraps around", progressBarWidth - 1, contentv1.Reload_STATE_RUNNING, 4},
		{"failed stays where it stopped", 7, contentv1.Reload_STATE_FAILED, 4},
		{"succeeded is full", 3, contentv1.Reload_STATE_SUCCEEDED, progressBarWidth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := activityBar(tc.steps, tc.state)
			if n := strings.Count(b, "█"); n != tc.filled || strings.Count(b, "░") != progressBarWidth-tc.filled {
				t.Errorf("activityBar(%d, %s) = %s: %d filled, want %d", tc.steps, tc.state, b, n, tc.filled)
			}
		})
	}
}
