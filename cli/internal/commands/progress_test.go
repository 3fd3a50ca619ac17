package commands

import (
	"bytes"
	"strings"
	"testing"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

func rolloutAt(state contentv1.Rollout_State, p *contentv1.Progress) *contentv1.Rollout {
	return &contentv1.Rollout{Name: "rollouts/r1", State: state, Progress: p}
}

func TestProgressViewRedrawsOneBarOnATerminal(t *testing.T) {
	var out bytes.Buffer
	v := &progressView{w: &out, name: "rollouts/r1", tty: true}
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
