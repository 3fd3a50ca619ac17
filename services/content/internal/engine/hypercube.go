package engine

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// QueryError says why a hypercube cannot be computed, e.g. dimensions of unassociated
// tables.
type QueryError struct{ Message string }

func (e *QueryError) Error() string { return e.Message }

// cubePass is the measures of one table, computed in one scan of its possible rows.
type cubePass struct {
	table    int
	measures []int // indexes into the hypercube's measures
}

// cubePart is a pass's answer: its groups, as dimension codes, and measure values.
type cubePart struct {
	groups [][]uint32
	values [][]Value
	totals []Value
}

// Hypercube computes measures by dimensions over the possible rows.
func (s *State) Hypercube(h Hypercube) (*Result, error) {
	m := s.v.m
	dims := make([]int, len(h.Dimensions))
	comp := -1
	for i, name := range h.Dimensions {
		f, err := m.field(name)
		if err != nil {
			return nil, err
		}
		dims[i] = f
		c := m.compOf[m.fields[f].tables[0]]
		if comp >= 0 && c != comp {
			return nil, &QueryError{Message: fmt.Sprintf(
				"dimension %q is not associated with dimension %q", name, h.Dimensions[0])}
		}
		comp = c
	}
	var passes []cubePass
	for i, ms := range h.Measures {
		f, err := m.field(ms.Field)
		if err != nil {
			return nil, err
		}
		if ms.Agg < Sum || ms.Agg > CountDistinct {
			return nil, &QueryError{Message: fmt.Sprintf("measure %d has an unknown aggregation %d", i, ms.Agg)}
		}
		t := m.fields[f].tables[0]
		if comp >= 0 && m.compOf[t] != comp {
			return nil, &QueryError{Message: fmt.Sprintf(
				"measure field %q is not associated with the dimensions", ms.Field)}
		}
		found := false
		for p := range passes {
			if passes[p].table == t {
				passes[p].measures = append(passes[p].measures, i)
				found = true
			}
		}
		if !found {
			passes = append(passes, cubePass{table: t, measures: []int{i}})
		}
	}
	if len(h.Measures) == 0 {
		if len(dims) == 0 {
			return &Result{Rows: [][]Value{}, Totals: []Value{}}, nil
		}
		passes = []cubePass{{table: m.fields[dims[0]].tables[0]}}
	}
	parts := make([]*cubePart, len(passes))
	for p, pass := range passes {
		specs := make([]measureSpec, len(pass.measures))
		for i, mi := range pass.measures {
			f := m.byName[h.Measures[mi].Field]
			tb := m.tables[pass.table]
			specs[i] = measureSpec{agg: h.Measures[mi].Agg, col: &tb.cols[tb.colOf(f)], syms: &m.fields[f].syms}
		}
		parts[p] = s.cubeScan(pass.table, dims, specs)
	}
	res := &Result{Totals: make([]Value, len(h.Measures))}
	for p, pass := range passes {
		for i, mi := range pass.measures {
			res.Totals[mi] = parts[p].totals[i]
		}
	}
	res.Rows = mergeParts(m, dims, h.Measures, passes, parts)
	SortRows(res.Rows, len(dims), h.Sort)
	res.TotalRows = len(res.Rows)
	lo := min(max(h.Offset, 0), len(res.Rows))
	hi := len(res.Rows)
	if h.Limit > 0 {
		hi = min(hi, lo+h.Limit)
	}
	res.Rows = res.Rows[lo:hi]
	return res, nil
}

// mergeParts joins the passes' groups into rows: the groups are their union, and a
// measure with no row in a group is null, or 0 for counts.
func mergeParts(m *Model, dims []int, measures []Measure, passes []cubePass, parts []*cubePart) [][]Value {
	width := len(dims) + len(measures)
	var rows [][]Value
	index := map[string]int{}
	key := make([]byte, 4*len(dims))
	for p, part := range parts {
		for g, codes := range part.groups {
			r := -1
			if len(parts) > 1 {
				for d, c := range codes {
					binary.LittleEndian.PutUint32(key[4*d:], c)
				}
				if i, ok := index[string(key)]; ok {
					r = i
				} else {
					index[string(key)] = len(rows)
				}
			}
			if r < 0 {
				r = len(rows)
				row := make([]Value, width)
				for d, c := range codes {
					row[d] = m.fields[dims[d]].syms.value(c)
				}
				for mi, ms := range measures {
					row[len(dims)+mi] = NullValue
					if ms.Agg == Count || ms.Agg == CountDistinct {
						row[len(dims)+mi] = numberValue(0)
					}
				}
				rows = append(rows, row)
			}
			for i, mi := range passes[p].measures {
				rows[r][len(dims)+mi] = part.values[g][i]
			}
		}
	}
	if rows == nil {
		rows = [][]Value{}
	}
	return rows
}

// noMatch marks a key with no row to join in a dimension lookup.
const noMatch = ^uint32(0)

// cubeScan computes a pass. Each dimension is read from the table holding it nearest to
// T; when every step from T towards the dimensions' tables is many-to-one (the key is
// unique in the next table), each row of T has at most one group, found through lookups
// from T's key codes, and one parallel scan does it all. Otherwise the general scan
// enumerates each row's groups through the join.
func (s *State) cubeScan(t int, dims []int, specs []measureSpec) *cubePart {
	m := s.v.m
	w := m.walkFrom(t)
	dimTable := make([]int, len(dims))
	star := true
	for d, f := range dims {
		best := -1
		for _, u := range m.fields[f].tables {
			if w.dist[u] >= 0 && (best < 0 || w.dist[u] < w.dist[best]) {
				best = u
			}
		}
		dimTable[d] = best
		for x := best; x != t; x = w.parent[x] {
			tb := m.tables[x]
			star = star && tb.unique[tb.colOf(w.key[x])]
		}
	}
	radix := make([]uint64, len(dims))
	space := uint64(1)
	for d, f := range dims {
		radix[d] = uint64(m.fields[f].syms.n) + 1
		hi, lo := bits.Mul64(space, radix[d])
		if hi != 0 {
			star = false
		}
		space = lo
	}
	if star {
		return s.starScan(t, w, dims, dimTable, radix, space, specs)
	}
	return s.joinScan(t, w, dims, dimTable, specs)
}

// starDim reads a dimension's code for a row of T: T's own column, or T's key column
// through a lookup from key code to dimension code.
type starDim struct {
	col    *column
	lookup []uint32
	stride uint64
}

// denseSlots bounds the group space kept as arrays indexed by group; larger spaces
// use a map from group to slot.
const denseSlots = 1 << 18

func (s *State) starScan(t int, w walk, dims, dimTable []int, radix []uint64, space uint64, specs []measureSpec) *cubePart {
	m := s.v.m
	tb := m.tables[t]
	sd := make([]starDim, len(dims))
	stride := uint64(1)
	for d := len(dims) - 1; d >= 0; d-- {
		sd[d].stride = stride
		stride *= radix[d]
		sd[d].col, sd[d].lookup = s.dimLookup(t, w, dims[d], dimTable[d])
	}
	rows := s.rows(t)
	nw := wordsFor(tb.rows)
	dense := space <= denseSlots && space <= uint64(tb.rows)*4+4096
	parts := 1
	if dense {
		parts = scanParts(nw)
	}
	accs := make([]*groupAcc, parts)
	var keys []uint64 // map mode: the group of each slot
	splitWords(nw, parts, func(p, lo, hi int) {
		var acc *groupAcc
		var index map[uint64]int32
		if dense {
			acc = newGroupAcc(specs, int(space), true)
		} else {
			acc = newGroupAcc(specs, 0, false)
			index = map[uint64]int32{}
		}
		accs[p] = acc
		for wi := lo; wi < hi; wi++ {
			word := rowWord(rows, tb.rows, wi)
		row:
			for word != 0 {
				i := wi<<6 | bits.TrailingZeros64(word)
				word &= word - 1
				key := uint64(0)
				for d := range sd {
					c := sd[d].col.at(i)
					if lk := sd[d].lookup; lk != nil {
						if c = lk[c]; c == noMatch {
							continue row
						}
					}
					key += uint64(c) * sd[d].stride
				}
				slot := int(key)
				if !dense {
					sl, ok := index[key]
					if !ok {
						sl = int32(len(keys))
						index[key] = sl
						keys = append(keys, key)
						acc.grow(len(keys))
					}
					slot = int(sl)
				}
				acc.add(slot, i)
			}
		}
	})
	acc := accs[0]
	for _, o := range accs[1:] {
		acc.merge(o)
	}
	distinct := acc.distinctCounts()
	part := &cubePart{totals: acc.totals()}
	for slot, n := range acc.rows {
		if n == 0 {
			continue
		}
		key := uint64(slot)
		if !dense {
			key = keys[slot]
		}
		codes := make([]uint32, len(dims))
		for d := range dims {
			codes[d] = uint32(key / sd[d].stride % radix[d])
		}
		vals := make([]Value, len(specs))
		for i := range specs {
			vals[i] = acc.value(i, slot, distinct)
		}
		part.groups = append(part.groups, codes)
		part.values = append(part.values, vals)
	}
	return part
}

// dimLookup is how a row of t finds dimension f held by table dt along many-to-one
// steps: t's column of f itself, or t's column of the first key with a lookup from
// its codes to f's codes, built backwards from dt over possible rows only.
func (s *State) dimLookup(t int, w walk, f, dt int) (*column, []uint32) {
	m := s.v.m
	if dt == t {
		tb := m.tables[t]
		return &tb.cols[tb.colOf(f)], nil
	}
	x := dt
	xt := m.tables[x]
	valueCol := &xt.cols[xt.colOf(f)]
	var lookup []uint32 // by code of the key x shares with its child on the path, nil at dt
	for {
		xt = m.tables[x]
		key := w.key[x]
		keyCol := &xt.cols[xt.colOf(key)]
		next := make([]uint32, m.fields[key].syms.n+1)
		for i := range next {
			next[i] = noMatch
		}
		forEachRow(s.rows(x), xt.rows, func(r int) {
			k := keyCol.at(r)
			if k == 0 {
				return
			}
			v := valueCol.at(r)
			if lookup != nil {
				v = lookup[v]
			}
			next[k] = v
		})
		lookup = next
		parent := w.parent[x]
		if parent == t {
			pt := m.tables[t]
			return &pt.cols[pt.colOf(key)], lookup
		}
		valueCol = &m.tables[parent].cols[m.tables[parent].colOf(key)]
		x = parent
	}
}

func forEachRow(rows bitset, n int, fn func(int)) {
	for wi := range wordsFor(n) {
		w := rowWord(rows, n, wi)
		for w != 0 {
			fn(wi<<6 | bits.TrailingZeros64(w))
			w &= w - 1
		}
	}
}
