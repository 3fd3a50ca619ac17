package engine

import "encoding/binary"

// joinNode is a table of the join from T to the dimensions' tables.
type joinNode struct {
	table    int
	children []int // node indexes
	ownDims  []int // dimensions read from this table
	ownCols  []int // their columns
	keyCols  []int // per child, this table's column of the key it shares with it
	layout   []int // dimension order of this node's partial tuples
	partials map[uint32][]string
}

// joinScan is the general pass, for paths where a row of T may pair with several rows
// (one-to-many steps). Bottom-up, every table of the join maps each value of the key it
// shares with its parent to the distinct partial tuples of the dimensions below it; a
// row of T then has the product of its children's tuples as its groups, each counted
// once however many join paths lead to it.
func (s *State) joinScan(t int, w walk, dims, dimTable []int, specs []measureSpec) *cubePart {
	m := s.v.m
	in := make([]bool, len(m.tables))
	in[t] = true
	for _, dt := range dimTable {
		for x := dt; x != t; x = w.parent[x] {
			in[x] = true
		}
	}
	nodeOf := make([]int, len(m.tables))
	var nodes []*joinNode
	for _, x := range w.order {
		if !in[x] {
			continue
		}
		nodeOf[x] = len(nodes)
		n := &joinNode{table: x}
		for d, dt := range dimTable {
			if dt == x {
				n.ownDims = append(n.ownDims, d)
				n.ownCols = append(n.ownCols, m.tables[x].colOf(dims[d]))
			}
		}
		nodes = append(nodes, n)
		if x != t {
			p := nodes[nodeOf[w.parent[x]]]
			p.children = append(p.children, len(nodes)-1)
			p.keyCols = append(p.keyCols, m.tables[p.table].colOf(w.key[x]))
		}
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		n.layout = append(n.layout, n.ownDims...)
		for _, c := range n.children {
			n.layout = append(n.layout, nodes[c].layout...)
		}
	}
	expand := func(n *joinNode, r int) []string {
		tb := m.tables[n.table]
		own := make([]byte, 4*len(n.ownCols))
		for i, j := range n.ownCols {
			binary.LittleEndian.PutUint32(own[4*i:], tb.cols[j].at(r))
		}
		out := []string{string(own)}
		for ci, c := range n.children {
			k := tb.cols[n.keyCols[ci]].at(r)
			if k == 0 {
				return nil
			}
			tails := nodes[c].partials[k]
			if len(tails) == 0 {
				return nil
			}
			next := make([]string, 0, len(out)*len(tails))
			for _, head := range out {
				for _, tail := range tails {
					next = append(next, head+tail)
				}
			}
			out = next
		}
		return out
	}
	for i := len(nodes) - 1; i > 0; i-- {
		n := nodes[i]
		tb := m.tables[n.table]
		keyCol := &tb.cols[tb.colOf(w.key[n.table])]
		sets := map[uint32]map[string]struct{}{}
		forEachRow(s.rows(n.table), tb.rows, func(r int) {
			k := keyCol.at(r)
			if k == 0 {
				return
			}
			for _, tuple := range expand(n, r) {
				set := sets[k]
				if set == nil {
					set = map[string]struct{}{}
					sets[k] = set
				}
				set[tuple] = struct{}{}
			}
		})
		n.partials = make(map[uint32][]string, len(sets))
		for k, set := range sets {
			list := make([]string, 0, len(set))
			for tuple := range set {
				list = append(list, tuple)
			}
			n.partials[k] = list
		}
	}
	root := nodes[0]
	acc := newGroupAcc(specs, 0, false)
	total := newGroupAcc(specs, 1, true)
	slots := map[string]int{}
	var tuples []string
	tt := m.tables[t]
	forEachRow(s.rows(t), tt.rows, func(r int) {
		groups := expand(root, r)
		if len(groups) == 0 {
			return
		}
		for _, g := range groups {
			slot, ok := slots[g]
			if !ok {
				slot = len(tuples)
				slots[g] = slot
				tuples = append(tuples, g)
				acc.grow(len(tuples))
			}
			acc.add(slot, r)
		}
		total.add(0, r)
	})
	distinct := acc.distinctCounts()
	part := &cubePart{totals: total.totals()}
	for slot, g := range tuples {
		codes := make([]uint32, len(dims))
		for i, d := range root.layout {
			codes[d] = binary.LittleEndian.Uint32([]byte(g[4*i:]))
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
