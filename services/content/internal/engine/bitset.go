package engine

import "math/bits"

// bitset is a set of small non-negative integers: rows of a table or codes of a field.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, wordsFor(n)) }

func wordsFor(n int) int { return (n + 63) >> 6 }

// fullBitset holds 0..n-1.
func fullBitset(n int) bitset {
	b := newBitset(n)
	for i := range b {
		b[i] = ^uint64(0)
	}
	if r := n & 63; r != 0 {
		b[len(b)-1] = 1<<uint(r) - 1
	}
	return b
}

func (b bitset) has(i uint32) bool { return b[i>>6]>>(i&63)&1 != 0 }

func (b bitset) set(i uint32) { b[i>>6] |= 1 << (i & 63) }

func (b bitset) clear(i uint32) { b[i>>6] &^= 1 << (i & 63) }

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func (b bitset) or(o bitset) {
	for i, w := range o {
		b[i] |= w
	}
}

// subsetOf says every member of b is in o.
func (b bitset) subsetOf(o bitset) bool {
	for i, w := range b {
		if i >= len(o) {
			if w != 0 {
				return false
			}
			continue
		}
		if w&^o[i] != 0 {
			return false
		}
	}
	return true
}

func (b bitset) clone() bitset { return append(bitset(nil), b...) }

// rowWord is the word wi of a row set over n rows, where nil means every row.
func rowWord(rows bitset, n, wi int) uint64 {
	if rows != nil {
		return rows[wi]
	}
	if (wi+1)<<6 <= n {
		return ^uint64(0)
	}
	return 1<<uint(n&63) - 1
}

// rowCount counts a row set over n rows, where nil means every row.
func rowCount(rows bitset, n int) int {
	if rows == nil {
		return n
	}
	return rows.count()
}
