package engine

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func snapshotOf(t testing.TB, m *Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := m.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// answers renders every query the tests ask of a model, to compare two models.
func answers(t testing.TB, m *Model) string {
	t.Helper()
	var out bytes.Buffer
	fmt.Fprintln(&out, m.Tables(), m.Fields(), m.Numeric("amount"), m.Numeric("category"))
	views := []*View{m.View()}
	if v, err := m.Reduce([]Reduction{{"region", []string{"North", "South"}}, {"note", []string{"hello"}}}); err == nil {
		views = append(views, v)
	}
	selections := [][]Selection{nil, {{"category", []string{"Fruit"}}}, {{"category", []string{"Fruit"}}, {"region", []string{"North"}}}, {{"qty", []string{"1", "3"}}}}
	for _, v := range views {
		fmt.Fprintln(&out, v.Tables())
		for _, sel := range selections {
			st, err := v.Select(sel)
			if err != nil {
				fmt.Fprintln(&out, err)
				continue
			}
			for _, f := range m.Fields() {
				fv, err := st.FieldValues(f.Name, FieldQuery{})
				fmt.Fprintln(&out, f.Name, fv, err)
			}
			for _, h := range []Hypercube{
				{Dimensions: []string{"category", "region"}, Measures: []Measure{{Sum, "amount"}, {Count, "qty"}, {CountDistinct, "order"}}},
				{Dimensions: []string{"region"}, Measures: []Measure{{Avg, "price"}, {Min, "amount"}, {Max, "amount"}}},
			} {
				res, err := st.Hypercube(h)
				fmt.Fprintln(&out, res, err)
			}
		}
	}
	return out.String()
}

func TestSnapshotRoundTripAnswersTheSame(t *testing.T) {
	m := starModel(t)
	back, err := ReadSnapshot(bytes.NewReader(snapshotOf(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := answers(t, m), answers(t, back); a != b {
		t.Errorf("the snapshot answers differently:\n%s\nvs\n%s", a, b)
	}
	if m.MemoryBytes() != back.MemoryBytes() {
		t.Errorf("memory %d, read back %d", m.MemoryBytes(), back.MemoryBytes())
	}
}

func TestSnapshotRejectsEveryTruncation(t *testing.T) {
	snap := snapshotOf(t, starModel(t))
	for i := range len(snap) {
		if _, err := ReadSnapshot(bytes.NewReader(snap[:i])); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("truncated at %d of %d: got %v", i, len(snap), err)
		}
	}
}

func TestSnapshotRejectsEveryFlippedByte(t *testing.T) {
	snap := snapshotOf(t, starModel(t))
	for i := range len(snap) {
		bad := bytes.Clone(snap)
		bad[i] ^= 0x5a
		if _, err := ReadSnapshot(bytes.NewReader(bad)); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("byte %d flipped: got %v", i, err)
		}
	}
}

func TestSnapshotRejectsForgedLengths(t *testing.T) {
	snap := snapshotOf(t, starModel(t))
	bad := bytes.Clone(snap)
	// The header section's length, just after the magic, version and tag.
	for i := 16; i < 24; i++ {
		bad[i] = 0x7f
	}
	if _, err := ReadSnapshot(bytes.NewReader(bad)); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("got %v", err)
	}
}

func FuzzReadSnapshot(f *testing.F) {
	f.Add(snapshotOf(f, starModel(f)))
	f.Add(snapshotOf(f, snowflakeModel(f)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadSnapshot(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("an error that is not ErrCorruptSnapshot: %v", err)
			}
			return
		}
		// Whatever decodes must be safe to query.
		st, err := m.View().Select(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, fi := range m.Fields() {
			st.FieldValues(fi.Name, FieldQuery{})
			st.Hypercube(Hypercube{Dimensions: []string{fi.Name}, Measures: []Measure{{Sum, fi.Name}, {CountDistinct, fi.Name}}})
		}
	})
}
