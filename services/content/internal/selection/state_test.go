package selection_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/oriel-dev/oriel/services/content/internal/engine"
	"github.com/oriel-dev/oriel/services/content/internal/selection"
)

// sel is a selection of values in field.
func sel(field string, values ...string) engine.Selection {
	return engine.Selection{Field: field, Values: values}
}

// requireSelections fails the test unless st's current selections are want.
func requireSelections(t *testing.T, what string, st selection.State, want ...engine.Selection) {
	t.Helper()
	got := st.Current()
	if !slices.EqualFunc(want, got, func(a, b engine.Selection) bool {
		return a.Field == b.Field && slices.Equal(a.Values, b.Values)
	}) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
}

func TestSelectAndClear(t *testing.T) {
	t.Parallel()
	regionEUUS := selection.State{}.Select("Region", []string{"EU", "US"}, false)
	twoFields := regionEUUS.Select("Year", []string{"2031"}, false)
	for _, c := range []struct {
		name string
		st   selection.State
		want []engine.Selection
	}{
		{"nothing is selected at first", selection.State{}, nil},
		{"a replace selects the values once each, in order",
			selection.State{}.Select("Region", []string{"US", "EU", "US"}, false), []engine.Selection{sel("Region", "US", "EU")}},
		{"a toggle selects values not selected",
			selection.State{}.Select("Region", []string{"EU", "EU"}, true), []engine.Selection{sel("Region", "EU")}},
		{"a toggle deselects values selected and adds the others last",
			regionEUUS.Select("Region", []string{"EU", "APAC"}, true), []engine.Selection{sel("Region", "US", "APAC")}},
		{"a toggle deselecting every value removes the field",
			twoFields.Select("Region", []string{"US", "EU"}, true), []engine.Selection{sel("Year", "2031")}},
		{"a replace without values removes the field",
			twoFields.Select("Region", nil, false), []engine.Selection{sel("Year", "2031")}},
		{"fields keep the order they were first selected in",
			twoFields.Select("Region", []string{"APAC"}, false), []engine.Selection{sel("Region", "APAC"), sel("Year", "2031")}},
		{"a field cleared and selected again goes last",
			twoFields.Clear("Region").Select("Region", []string{"EU"}, false), []engine.Selection{sel("Year", "2031"), sel("Region", "EU")}},
		{"clearing a field leaves the others",
			twoFields.Clear("Year"), []engine.Selection{sel("Region", "EU", "US")}},
		{"clearing all leaves nothing", twoFields.Clear(""), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			requireSelections(t, "current", c.st, c.want...)
		})
	}
}

func TestChangesThatChangeNothingAddNoStep(t *testing.T) {
	t.Parallel()
	st := selection.State{}.Select("Region", []string{"EU", "US"}, false)
	for name, same := range map[string]selection.State{
		"the same values again":                            st.Select("Region", []string{"EU", "US"}, false),
		"the same values in another order":                 st.Select("Region", []string{"US", "EU", "US"}, false),
		"a toggle of no values":                            st.Select("Region", nil, true),
		"a replace without values of a field not selected": st.Select("Year", nil, false),
		"an empty field name":                              st.Select("", []string{"x"}, false),
		"clearing a field not selected":                    st.Clear("Year"),
	} {
		if !reflect.DeepEqual(st, same) {
			t.Errorf("%s changed the state", name)
		}
	}
	if zero := (selection.State{}); !reflect.DeepEqual(zero, zero.Clear("")) {
		t.Errorf("clearing all of nothing changed the state")
	}
}

func TestBackAndForward(t *testing.T) {
	t.Parallel()
	zero := selection.State{}
	if _, ok := zero.Back(); ok || zero.CanBack() {
		t.Fatalf("the zero state can go back")
	}
	if _, ok := zero.Forward(); ok || zero.CanForward() {
		t.Fatalf("the zero state can go forward")
	}
	a := zero.Select("Region", []string{"EU"}, false)
	b := a.Select("Year", []string{"2031"}, false)
	c := b.Clear("Region")

	back1, ok := c.Back()
	if !ok || !back1.CanBack() || !back1.CanForward() {
		t.Fatalf("one step back: ok %v, can go back %v, forward %v", ok, back1.CanBack(), back1.CanForward())
	}
	requireSelections(t, "one step back", back1, sel("Region", "EU"), sel("Year", "2031"))
	back2, _ := back1.Back()
	requireSelections(t, "two steps back", back2, sel("Region", "EU"))
	back3, _ := back2.Back()
	requireSelections(t, "three steps back: the empty selection before the first", back3)
	if _, ok := back3.Back(); ok {
		t.Fatalf("went back past the first step")
	}
	fwd, ok := back3.Forward()
	if !ok {
		t.Fatalf("cannot go forward after Back")
	}
	requireSelections(t, "forward again", fwd, sel("Region", "EU"))
	last := fwd
	for range 2 {
		last, _ = last.Forward()
	}
	requireSelections(t, "forward to the end", last, sel("Year", "2031"))
	if _, ok := last.Forward(); ok || last.CanForward() {
		t.Fatalf("went forward past the last step")
	}

	// A change after Back drops the steps it left.
	branch := back2.Select("Product", []string{"Bikes"}, false)
	if branch.CanForward() {
		t.Fatalf("a change after Back can go forward")
	}
	requireSelections(t, "the branch", branch, sel("Region", "EU"), sel("Product", "Bikes"))
	up, _ := branch.Back()
	requireSelections(t, "back from the branch", up, sel("Region", "EU"))
	// States are values: the old ones are as they were.
	requireSelections(t, "the state the branch started from", back2, sel("Region", "EU"))
	if !back2.CanForward() {
		t.Fatalf("the branch changed the state it started from")
	}
	requireSelections(t, "the state Back started from", c, sel("Year", "2031"))
}

func TestHistoryKeepsTheLatestSteps(t *testing.T) {
	t.Parallel()
	st := selection.State{}
	const changes = selection.MaxSteps + 10
	for i := range changes {
		st = st.Select("Step", []string{fmt.Sprint(i)}, false)
	}
	steps := 1
	for ; st.CanBack(); steps++ {
		st, _ = st.Back()
	}
	if steps != selection.MaxSteps {
		t.Fatalf("%d steps reachable after %d changes, want %d", steps, changes, selection.MaxSteps)
	}
	requireSelections(t, "the oldest step kept", st, sel("Step", fmt.Sprint(changes-selection.MaxSteps)))
}

func TestCurrentIsTheCallersToChange(t *testing.T) {
	t.Parallel()
	st := selection.State{}.Select("Region", []string{"EU", "US"}, false)
	cur := st.Current()
	cur[0].Values[0] = "changed"
	cur[0].Field = "changed"
	requireSelections(t, "after changing what Current returned", st, sel("Region", "EU", "US"))
	values := []string{"A", "B"}
	st = st.Select("Year", values, false)
	values[0] = "changed"
	requireSelections(t, "after changing the values Select was given", st, sel("Region", "EU", "US"), sel("Year", "A", "B"))
}
