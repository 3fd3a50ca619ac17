package engine

import (
	"fmt"
	"slices"
	"strings"
)

// checkAssociations refuses a graph that is not a forest. Tables and fields are the
// nodes and a table holding a field is an edge, so a field held by three tables links
// them as one join on that field, not as a loop; two tables sharing two fields, or a
// ring of tables, is a loop.
func checkAssociations(names []string, tableFields [][]int, fieldNames []string) error {
	holders := make([][]int, len(fieldNames))
	for t, fs := range tableFields {
		for _, f := range fs {
			holders[f] = append(holders[f], t)
		}
	}
	shared := map[[2]int][]int{}
	for f, ts := range holders {
		for i, a := range ts {
			for _, b := range ts[i+1:] {
				shared[[2]int{a, b}] = append(shared[[2]int{a, b}], f)
			}
		}
	}
	for a := range tableFields {
		for b := a + 1; b < len(tableFields); b++ {
			if fs := shared[[2]int{a, b}]; len(fs) > 1 {
				return &ModelError{Message: fmt.Sprintf(
					"tables %q and %q share more than one field (%s); associate them through a single key field",
					names[a], names[b], quoteNames(fieldNames, fs))}
			}
		}
	}
	// Union-find over tables (0..T-1) and fields (T..): an edge inside one set is a loop.
	up := make([]int, len(tableFields)+len(fieldNames))
	for i := range up {
		up[i] = i
	}
	var root func(int) int
	root = func(i int) int {
		for up[i] != i {
			up[i] = up[up[i]]
			i = up[i]
		}
		return i
	}
	for f, ts := range holders {
		if len(ts) < 2 {
			continue
		}
		node := len(tableFields) + f
		for _, t := range ts {
			a, b := root(t), root(node)
			if a == b {
				var ring []string
				for u := range tableFields {
					if root(u) == a {
						ring = append(ring, fmt.Sprintf("%q", names[u]))
					}
				}
				return &ModelError{Message: fmt.Sprintf(
					"field %q of table %q closes a loop in the association graph through tables %s; rename a field to break it",
					fieldNames[f], names[t], strings.Join(ring, ", "))}
			}
			up[a] = b
		}
	}
	return nil
}

func quoteNames(names []string, ids []int) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", names[id])
	}
	return strings.Join(q, ", ")
}

// walk is a breadth-first walk of from's component: each reached table's parent, the
// field it shares with it, its distance in tables, and the order reached.
type walk struct {
	parent, key, dist []int
	order             []int
}

func (m *Model) walkFrom(from int) walk {
	n := len(m.tables)
	w := walk{parent: make([]int, n), key: make([]int, n), dist: make([]int, n)}
	for i := range w.dist {
		w.dist[i], w.parent[i], w.key[i] = -1, -1, -1
	}
	w.dist[from] = 0
	w.order = append(w.order, from)
	for i := 0; i < len(w.order); i++ {
		t := w.order[i]
		for _, f := range m.tables[t].fields {
			for _, u := range m.fields[f].tables {
				if w.dist[u] < 0 {
					w.dist[u], w.parent[u], w.key[u] = w.dist[t]+1, t, f
					w.order = append(w.order, u)
				}
			}
		}
	}
	return w
}

// linkComponents builds the join forest once the graph is known to be a forest.
func (m *Model) linkComponents() {
	n := len(m.tables)
	m.compOf = make([]int, n)
	m.joinParent = make([]int, n)
	m.joinKey = make([]int, n)
	for i := range m.compOf {
		m.compOf[i] = -1
	}
	for t := range m.tables {
		if m.compOf[t] >= 0 {
			continue
		}
		members := m.walkFrom(t).order
		rootT := members[0]
		for _, u := range members {
			if m.tables[u].rows > m.tables[rootT].rows {
				rootT = u
			}
		}
		w := m.walkFrom(rootT)
		for _, u := range w.order {
			m.compOf[u] = len(m.comps)
			m.joinParent[u], m.joinKey[u] = w.parent[u], w.key[u]
		}
		m.comps = append(m.comps, slices.Clone(w.order))
	}
}
