package engine

// View is the part of a model a user may see: every row, or the rows a reduction keeps.
// It is immutable and safe for concurrent use.
type View struct {
	m *Model
	// base holds, per table, the rows the view keeps; nil keeps every row.
	base []bitset
	// exists holds, per field, the codes some kept row holds; nil (the whole model) is
	// every code.
	exists []bitset
	// reduced says the kept rows are already the full join of each component, so no
	// semijoin between kept rows can remove anything.
	reduced bool
}

// Tables describes the tables in load order, counting the rows the view keeps.
func (v *View) Tables() []TableInfo {
	return v.m.tableInfos(func(t int) int { return rowCount(v.base[t], v.m.tables[t].rows) })
}

// Reduce keeps the rows a set of reductions allows, as permanent selections. A component
// without a reduced field keeps nothing, so forgetting a reduction hides data rather
// than showing it.
func (m *Model) Reduce(rs []Reduction) (*View, error) {
	filters := map[int]bitset{}
	for _, r := range rs {
		f, err := m.field(r.Field)
		if err != nil {
			return nil, err
		}
		syms := &m.fields[f].syms
		allowed := newBitset(syms.n + 1)
		for _, text := range r.Values {
			if c := syms.lookup(text); c != 0 {
				allowed.set(c)
			}
		}
		intersectFilter(filters, f, allowed)
	}
	v := &View{m: m, base: make([]bitset, len(m.tables)), reduced: true}
	for ci, members := range m.comps {
		reduced := false
		for _, t := range members {
			for _, f := range m.tables[t].fields {
				_, ok := filters[f]
				reduced = reduced || ok
			}
		}
		if !reduced {
			for _, t := range members {
				v.base[t] = newBitset(m.tables[t].rows)
			}
			continue
		}
		rows := m.full.propagate(ci, filters)
		for _, t := range members {
			v.base[t] = rows[t]
		}
	}
	v.exists = make([]bitset, len(m.fields))
	for f, fd := range m.fields {
		e := newBitset(fd.syms.n + 1)
		for _, t := range fd.tables {
			tb := m.tables[t]
			j := tb.colOf(f)
			if v.base[t] == nil {
				e.or(tb.present[j])
			} else {
				tb.cols[j].collect(v.base[t], tb.rows, e)
			}
		}
		e.clear(0)
		v.exists[f] = e
	}
	return v, nil
}

// intersectFilter applies a filter on a field, narrowing an earlier one on the same
// field: every selection is a filter and they all apply.
func intersectFilter(filters map[int]bitset, f int, allowed bitset) {
	if prev, ok := filters[f]; ok {
		for i := range prev {
			prev[i] &= allowed[i]
		}
		return
	}
	filters[f] = allowed
}

// covered says every kept row of table a has a value of key k that some kept row of
// table b holds, so a semijoin of a by b removes nothing from the kept rows.
func (v *View) covered(a, b, k int) bool {
	if v.reduced {
		return true
	}
	ta, tb := v.m.tables[a], v.m.tables[b]
	ja, jb := ta.colOf(k), tb.colOf(k)
	return !ta.hasNull[ja] && ta.present[ja].subsetOf(tb.present[jb])
}

// propagate computes the possible rows of component ci under filters: the rows taking
// part in the inner join of its tables. It is Yannakakis's full reducer on the join
// tree: semijoins from the leaves up to the root, then from the root down. The result
// holds, per table of the component, its possible rows, or nil for the view's rows.
func (v *View) propagate(ci int, filters map[int]bitset) []bitset {
	m := v.m
	order := m.comps[ci]
	rows := make([]bitset, len(m.tables))
	changed := make([]bool, len(m.tables))
	writable := func(t int) bitset {
		if rows[t] == nil {
			if v.base[t] == nil {
				rows[t] = fullBitset(m.tables[t].rows)
			} else {
				rows[t] = v.base[t].clone()
			}
		}
		return rows[t]
	}
	current := func(t int) bitset {
		if rows[t] != nil {
			return rows[t]
		}
		return v.base[t]
	}
	for _, t := range order {
		tb := m.tables[t]
		for j, f := range tb.fields {
			if allowed, ok := filters[f]; ok {
				tb.cols[j].filter(writable(t), allowed)
				changed[t] = true
			}
		}
	}
	semijoin := func(a, b, k int) {
		ta, tb := m.tables[a], m.tables[b]
		keys := newBitset(m.fields[k].syms.n + 1)
		tb.cols[tb.colOf(k)].collect(current(b), tb.rows, keys)
		keys.clear(0) // null never joins
		ta.cols[ta.colOf(k)].filter(writable(a), keys)
		changed[a] = true
	}
	for i := len(order) - 1; i > 0; i-- {
		c := order[i]
		p, k := m.joinParent[c], m.joinKey[c]
		if !changed[c] && v.covered(p, c, k) {
			continue
		}
		semijoin(p, c, k)
	}
	for _, c := range order[1:] {
		p, k := m.joinParent[c], m.joinKey[c]
		if !changed[p] && v.covered(c, p, k) {
			continue
		}
		semijoin(c, p, k)
	}
	return rows
}

// existing is the codes of field f the view keeps; nil means every code.
func (v *View) existing(f int) bitset {
	if v.exists == nil {
		return nil
	}
	return v.exists[f]
}
