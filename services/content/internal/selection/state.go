// Package selection keeps what a session has selected in an app: a short history of
// selection sets that Back and Forward walk, as the selection bar of a dashboard does. The
// state belongs to a session (an embed session or an API key) and an app, and lives in
// Redis so that it survives a restart of content and follows the session from replica to
// replica; `oriel dev` keeps it in process.
package selection

import (
	"slices"

	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// MaxSteps is how many selection sets a State remembers, the current one included: enough
// to undo a session's worth of clicks, few enough to keep the state small.
const MaxSteps = 50

// State is a session's selections in one app: a history of selection sets and the step
// that is current. Its zero value is the empty selection with no history. A State is a
// value: its methods return a new State and never change the one they are called on, so a
// State read from a Store may be kept and shared.
type State struct {
	// steps is the history, oldest first; nil stands for one empty step. Steps are never
	// changed once made: a change appends a new one.
	steps [][]engine.Selection
	// at is the index of the current step.
	at int
}

// history returns the steps with the zero State's implicit empty step made explicit.
func (s State) history() [][]engine.Selection {
	if len(s.steps) == 0 {
		return [][]engine.Selection{nil}
	}
	return s.steps
}

// current returns the current step, not to be changed.
func (s State) current() []engine.Selection { return s.history()[s.at] }

// Current returns the current selections, fields in the order they were first selected
// (a field cleared and selected again goes last). The result is the caller's to change.
func (s State) Current() []engine.Selection {
	cur := s.current()
	if len(cur) == 0 {
		return nil
	}
	out := make([]engine.Selection, len(cur))
	for i, sel := range cur {
		out[i] = engine.Selection{Field: sel.Field, Values: slices.Clone(sel.Values)}
	}
	return out
}

// CanBack reports whether there is an earlier step.
func (s State) CanBack() bool { return s.at > 0 }

// CanForward reports whether Back left a later step.
func (s State) CanForward() bool { return s.at < len(s.history())-1 }

// Back returns the state at the previous step, and false (with s) if there is none.
func (s State) Back() (State, bool) {
	if !s.CanBack() {
		return s, false
	}
	return State{steps: s.steps, at: s.at - 1}, true
}

// Forward returns the state at the step Back left, and false (with s) if there is none.
func (s State) Forward() (State, bool) {
	if !s.CanForward() {
		return s, false
	}
	return State{steps: s.steps, at: s.at + 1}, true
}

// Select sets the values selected in field: with toggle, each of values is selected if it
// was not and deselected if it was; without, values replace the field's. Values are
// deduplicated, keeping their order. A field left without values is no longer selected.
// A change that changes nothing (the same values, in whatever order) returns s; an empty
// field name changes nothing.
func (s State) Select(field string, values []string, toggle bool) State {
	if field == "" {
		return s
	}
	cur := s.current()
	i := slices.IndexFunc(cur, func(sel engine.Selection) bool { return sel.Field == field })
	var had []string
	if i >= 0 {
		had = cur[i].Values
	}
	values = dedupe(values)
	next := values
	if toggle {
		// Values kept stay where they were; values added go last. Maps keep a toggle of
		// thousands of values linear.
		flip, selected := setOf(values), setOf(had)
		next = make([]string, 0, len(had)+len(values))
		for _, v := range had {
			if !flip[v] {
				next = append(next, v)
			}
		}
		for _, v := range values {
			if !selected[v] {
				next = append(next, v)
			}
		}
	}
	if sameSet(had, next) {
		return s
	}
	step := slices.Clone(cur)
	switch {
	case len(next) == 0:
		step = slices.Delete(step, i, i+1)
	case i >= 0:
		step[i] = engine.Selection{Field: field, Values: next}
	default:
		step = append(step, engine.Selection{Field: field, Values: next})
	}
	return s.push(step)
}

// Clear deselects every value of field, or of every field when field is "". Clearing
// nothing returns s.
func (s State) Clear(field string) State {
	cur := s.current()
	if field == "" {
		if len(cur) == 0 {
			return s
		}
		return s.push(nil)
	}
	i := slices.IndexFunc(cur, func(sel engine.Selection) bool { return sel.Field == field })
	if i < 0 {
		return s
	}
	return s.push(slices.Delete(slices.Clone(cur), i, i+1))
}

// push makes step the current one after the current step, dropping the steps Back left
// and, past MaxSteps, the oldest.
func (s State) push(step []engine.Selection) State {
	if len(step) == 0 {
		step = nil
	}
	h := s.history()
	steps := make([][]engine.Selection, 0, s.at+2)
	steps = append(steps, h[:s.at+1]...)
	steps = append(steps, step)
	if len(steps) > MaxSteps {
		steps = steps[len(steps)-MaxSteps:]
	}
	return State{steps: steps, at: len(steps) - 1}
}

// dedupe returns values without repeats, in the order of their first occurrence.
func dedupe(values []string) []string {
	out := make([]string, 0, len(values))
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// sameSet reports whether a and b, each without repeats, hold the same values.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := setOf(a)
	for _, v := range b {
		if !in[v] {
			return false
		}
	}
	return true
}

// setOf returns the set of values.
func setOf(values []string) map[string]bool {
	out := make(map[string]bool, len(values))
	for _, v := range values {
		out[v] = true
	}
	return out
}
