package engine

import "math/bits"

// measureSpec is a measure bound to the column of its table.
type measureSpec struct {
	agg  Aggregation
	col  *column
	syms *symbols
}

// groupAcc accumulates measures per group slot: the rows of each group and, per
// measure, only the arrays its aggregation needs. Codes are in value order with the
// numbers first, so MIN and MAX keep the smallest and largest numeric code.
type groupAcc struct {
	rows []int64
	aggs []aggAcc
}

type aggAcc struct {
	spec    measureSpec
	numeric uint32
	nums    []float64
	sum     []float64
	n       []int64
	lo, hi  []uint32
	// COUNT_DISTINCT: (slot, code) pairs, in a bitset of slot*(codes)+code when that is
	// small, else a map; and every code any grouped row holds, for the total.
	width uint64
	dset  bitset
	dmap  map[uint64]struct{}
	all   bitset
}

// denseDistinctBits bounds the (group, code) bitset of a COUNT_DISTINCT.
const denseDistinctBits = 1 << 24

func newGroupAcc(specs []measureSpec, slots int, dense bool) *groupAcc {
	g := &groupAcc{rows: make([]int64, slots), aggs: make([]aggAcc, len(specs))}
	for i, sp := range specs {
		a := &g.aggs[i]
		a.spec = sp
		a.numeric = uint32(sp.syms.numeric)
		a.nums = sp.syms.nums
		switch sp.agg {
		case Sum, Avg:
			a.sum, a.n = make([]float64, slots), make([]int64, slots)
		case Count:
			a.n = make([]int64, slots)
		case Min:
			a.lo = make([]uint32, slots)
		case Max:
			a.hi = make([]uint32, slots)
		case CountDistinct:
			a.width = uint64(sp.syms.n + 1)
			a.all = newBitset(sp.syms.n + 1)
			if dense && uint64(slots)*a.width <= denseDistinctBits {
				a.dset = newBitset(int(uint64(slots) * a.width))
			} else {
				a.dmap = map[uint64]struct{}{}
			}
		}
	}
	return g
}

// grow makes room for slot index slots-1, for groups found as rows arrive.
func (g *groupAcc) grow(slots int) {
	for len(g.rows) < slots {
		g.rows = append(g.rows, 0)
		for i := range g.aggs {
			a := &g.aggs[i]
			if a.sum != nil {
				a.sum = append(a.sum, 0)
			}
			if a.n != nil {
				a.n = append(a.n, 0)
			}
			if a.lo != nil {
				a.lo = append(a.lo, 0)
			}
			if a.hi != nil {
				a.hi = append(a.hi, 0)
			}
		}
	}
}

// add counts row of the measures' table into a group slot.
func (g *groupAcc) add(slot, row int) {
	g.rows[slot]++
	for i := range g.aggs {
		a := &g.aggs[i]
		c := a.spec.col.at(row)
		if c == 0 {
			continue
		}
		switch a.spec.agg {
		case Count:
			a.n[slot]++
		case Sum, Avg:
			if c <= a.numeric {
				a.sum[slot] += a.nums[c-1]
				a.n[slot]++
			}
		case Min:
			if c <= a.numeric && (a.lo[slot] == 0 || c < a.lo[slot]) {
				a.lo[slot] = c
			}
		case Max:
			if c <= a.numeric && c > a.hi[slot] {
				a.hi[slot] = c
			}
		case CountDistinct:
			a.all.set(c)
			if a.dset != nil {
				i := uint64(slot)*a.width + uint64(c)
				a.dset[i>>6] |= 1 << (i & 63)
			} else {
				a.dmap[uint64(slot)<<32|uint64(c)] = struct{}{}
			}
		}
	}
}

// merge adds another accumulator over the same slots.
func (g *groupAcc) merge(o *groupAcc) {
	for s, r := range o.rows {
		g.rows[s] += r
	}
	for i := range g.aggs {
		a, b := &g.aggs[i], &o.aggs[i]
		for s := range b.sum {
			a.sum[s] += b.sum[s]
		}
		for s := range b.n {
			a.n[s] += b.n[s]
		}
		for s, c := range b.lo {
			if c != 0 && (a.lo[s] == 0 || c < a.lo[s]) {
				a.lo[s] = c
			}
		}
		for s, c := range b.hi {
			a.hi[s] = max(a.hi[s], c)
		}
		if b.all != nil {
			a.all.or(b.all)
		}
		if b.dset != nil {
			a.dset.or(b.dset)
		}
		for k := range b.dmap {
			a.dmap[k] = struct{}{}
		}
	}
}

// distinctCounts counts each slot's distinct codes, per measure (nil for the others).
func (g *groupAcc) distinctCounts() [][]int64 {
	out := make([][]int64, len(g.aggs))
	for i := range g.aggs {
		a := &g.aggs[i]
		if a.spec.agg != CountDistinct {
			continue
		}
		counts := make([]int64, len(g.rows))
		if a.dset != nil {
			for wi, w := range a.dset {
				for w != 0 {
					bit := uint64(wi)<<6 | uint64(bits.TrailingZeros64(w))
					w &= w - 1
					counts[bit/a.width]++
				}
			}
		} else {
			for k := range a.dmap {
				counts[k>>32]++
			}
		}
		out[i] = counts
	}
	return out
}

// value is measure i of a slot.
func (g *groupAcc) value(i, slot int, distinct [][]int64) Value {
	a := &g.aggs[i]
	switch a.spec.agg {
	case Sum:
		if a.n[slot] > 0 {
			return numberValue(a.sum[slot])
		}
	case Avg:
		if a.n[slot] > 0 {
			return numberValue(a.sum[slot] / float64(a.n[slot]))
		}
	case Count:
		return numberValue(float64(a.n[slot]))
	case Min:
		return a.spec.syms.value(a.lo[slot])
	case Max:
		return a.spec.syms.value(a.hi[slot])
	case CountDistinct:
		return numberValue(float64(distinct[i][slot]))
	}
	return NullValue
}

// totals aggregates each measure over every slot's rows; a row must be in one slot only.
func (g *groupAcc) totals() []Value {
	t := newGroupAcc(specsOf(g), 1, true)
	for s := range g.rows {
		t.rows[0] += g.rows[s]
	}
	out := make([]Value, len(g.aggs))
	for i := range g.aggs {
		a, b := &t.aggs[i], &g.aggs[i]
		for s := range b.sum {
			a.sum[0] += b.sum[s]
		}
		for s := range b.n {
			a.n[0] += b.n[s]
		}
		for _, c := range b.lo {
			if c != 0 && (a.lo[0] == 0 || c < a.lo[0]) {
				a.lo[0] = c
			}
		}
		for _, c := range b.hi {
			a.hi[0] = max(a.hi[0], c)
		}
		if b.all != nil {
			out[i] = numberValue(float64(b.all.count()))
			continue
		}
		out[i] = t.value(i, 0, nil)
	}
	return out
}

func specsOf(g *groupAcc) []measureSpec {
	specs := make([]measureSpec, len(g.aggs))
	for i := range g.aggs {
		specs[i] = g.aggs[i].spec
	}
	return specs
}
