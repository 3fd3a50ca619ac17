package engine

import "strings"

// FieldValues lists a field's values in the view with their states and counts.
func (s *State) FieldValues(name string, q FieldQuery) (*FieldValues, error) {
	m := s.v.m
	f, err := m.field(name)
	if err != nil {
		return nil, err
	}
	fd := m.fields[f]
	syms := &fd.syms
	selected, hasSel := s.sel[f]
	t0 := m.tables[fd.tables[0]]
	var counts []int64
	countRows := func() {
		counts = make([]int64, syms.n+1)
		t0.cols[t0.colOf(f)].count(s.rows(fd.tables[0]), t0.rows, counts)
	}
	var reach bitset // POSSIBLE without a selection, ALTERNATIVE with one
	switch {
	case hasSel:
		reach = s.alternative(f)
	case s.selected[m.compOf[fd.tables[0]]]:
		// The counts of the first table already say which of its codes are possible,
		// which saves a scan of what is usually the fact table.
		countRows()
		reach = newBitset(syms.n + 1)
		for c, k := range counts {
			if k > 0 {
				reach.set(uint32(c))
			}
		}
		for _, t := range fd.tables[1:] {
			tb := m.tables[t]
			j := tb.colOf(f)
			if r := s.rows(t); r != nil {
				tb.cols[j].collect(r, tb.rows, reach)
			} else {
				reach.or(tb.present[j])
			}
		}
		reach.clear(0)
	default:
		reach = s.v.existing(f)
	}
	state := func(c uint32) ValueState {
		switch {
		case hasSel && selected.has(c):
			return Selected
		case reach != nil && !reach.has(c):
			return Excluded
		case hasSel:
			return Alternative
		}
		return Possible
	}
	match := s.v.existing(f)
	if q.Search != "" {
		needle := strings.ToLower(q.Search)
		found := newBitset(syms.n + 1)
		for c := uint32(1); int(c) <= syms.n; c++ {
			if (match == nil || match.has(c)) && strings.Contains(strings.ToLower(syms.text(c)), needle) {
				found.set(c)
			}
		}
		match = found
	}
	var perState [Excluded + 1]int
	total := 0
	for c := uint32(1); int(c) <= syms.n; c++ {
		if match == nil || match.has(c) {
			perState[state(c)]++
			total++
		}
	}
	out := &FieldValues{Total: total}
	skip := max(q.Offset, 0)
	want := total - skip
	if q.Limit > 0 {
		want = min(want, q.Limit)
	}
	if want <= 0 {
		return out, nil
	}
	if counts == nil {
		countRows()
	}
	out.Values = make([]FieldValue, 0, want)
	for st := Selected; st <= Excluded && len(out.Values) < want; st++ {
		if skip >= perState[st] {
			skip -= perState[st]
			continue
		}
		for c := uint32(1); int(c) <= syms.n && len(out.Values) < want; c++ {
			if (match != nil && !match.has(c)) || state(c) != st {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			fv := FieldValue{Value: syms.value(c), State: st}
			if st == Selected || st == Possible {
				fv.Count = counts[c]
			}
			out.Values = append(out.Values, fv)
		}
	}
	return out, nil
}
