package engine

import "sync"

// State is a view under selections: the possible rows of every table, and, lazily, what
// each selected field's values would be without its own selection. It is immutable from
// the outside and safe for concurrent use.
type State struct {
	v *View
	// sel holds the selected codes per selected field.
	sel map[int]bitset
	// possible holds, per table, its possible rows; nil means the view's rows.
	possible []bitset
	selected []bool // per component: it has a selection

	mu  sync.Mutex
	alt map[int]*alternatives
}

// alternatives are the codes of a selected field possible without its own selection.
type alternatives struct {
	once  sync.Once
	codes bitset // nil: every value of the view
}

// Select applies selections to the view. A value outside the view is refused exactly like
// a value that does not exist, so a selection cannot probe what a reduction hides.
func (v *View) Select(sels []Selection) (*State, error) {
	m := v.m
	s := &State{v: v, sel: map[int]bitset{}, possible: make([]bitset, len(m.tables)),
		selected: make([]bool, len(m.comps)), alt: map[int]*alternatives{}}
	err := v.resolve(sels, func(f int, allowed bitset) {
		intersectFilter(s.sel, f, allowed)
		s.selected[m.compOf[m.fields[f].tables[0]]] = true
	})
	if err != nil {
		return nil, err
	}
	for ci, on := range s.selected {
		if !on {
			continue
		}
		rows := v.propagate(ci, s.sel)
		for _, t := range m.comps[ci] {
			s.possible[t] = rows[t]
		}
	}
	return s, nil
}

// Check reports what Select would refuse in sels (*FieldError, *ValueError) without
// computing anything: a check costs lookups, a Select a scan of the selected components.
func (v *View) Check(sels []Selection) error {
	return v.resolve(sels, func(int, bitset) {})
}

// resolve turns each selection into its field and the codes of its values, refusing a
// value outside the view exactly like one that does not exist.
func (v *View) resolve(sels []Selection, use func(f int, allowed bitset)) error {
	m := v.m
	for _, sel := range sels {
		f, err := m.field(sel.Field)
		if err != nil {
			return err
		}
		syms := &m.fields[f].syms
		allowed := newBitset(syms.n + 1)
		for _, text := range sel.Values {
			c := syms.lookup(text)
			if c == 0 || (v.existing(f) != nil && !v.existing(f).has(c)) {
				return &ValueError{Field: sel.Field, Value: text}
			}
			allowed.set(c)
		}
		use(f, allowed)
	}
	return nil
}

// rows is the possible rows of table t; nil means every row.
func (s *State) rows(t int) bitset {
	if s.possible[t] != nil {
		return s.possible[t]
	}
	return s.v.base[t]
}

// codesOf is the codes of field f held by some row of a table holding it, among the
// given rows per table; nil means every code.
func (v *View) codesOf(f int, rows func(t int) bitset) bitset {
	m := v.m
	fd := m.fields[f]
	out := newBitset(fd.syms.n + 1)
	all := true
	for _, t := range fd.tables {
		tb := m.tables[t]
		j := tb.colOf(f)
		r := rows(t)
		if r == nil {
			out.or(tb.present[j])
			continue
		}
		all = false
		tb.cols[j].collect(r, tb.rows, out)
	}
	if all && v.exists == nil {
		return nil
	}
	out.clear(0)
	return out
}

// alternative is the codes of selected field f that would be possible with its own
// selection removed; nil means every value. It is computed once per field and state.
func (s *State) alternative(f int) bitset {
	s.mu.Lock()
	a, ok := s.alt[f]
	if !ok {
		a = &alternatives{}
		s.alt[f] = a
	}
	s.mu.Unlock()
	a.once.Do(func() {
		m := s.v.m
		ci := m.compOf[m.fields[f].tables[0]]
		others := map[int]bitset{}
		for g, allowed := range s.sel {
			if g != f && m.compOf[m.fields[g].tables[0]] == ci {
				others[g] = allowed
			}
		}
		if len(others) == 0 {
			a.codes = s.v.existing(f)
			return
		}
		rows := s.v.propagate(ci, others)
		a.codes = s.v.codesOf(f, func(t int) bitset {
			if rows[t] != nil {
				return rows[t]
			}
			return s.v.base[t]
		})
	})
	return a.codes
}
