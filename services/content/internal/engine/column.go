package engine

import "math/bits"

// column is a table's field as bit-packed codes: code 0 is null and codes 1..n are the
// field's symbols. Codes may straddle two words; a padding word at the end lets every
// read take two words without a bounds branch.
type column struct {
	width uint
	mask  uint64
	words []uint64
}

func packedWords(rows int, width uint) int {
	return max(2, int((uint64(rows)*uint64(width)+63)>>6)+1)
}

func newColumn(rows int, width uint) column {
	return column{width: width, mask: 1<<width - 1, words: make([]uint64, packedWords(rows, width))}
}

// at is the code of row i.
func (c *column) at(i int) uint32 {
	pos := uint(i) * c.width
	w := c.words[pos>>6 : pos>>6+2]
	off := pos & 63
	return uint32((w[0]>>off | w[1]<<(64-off)) & c.mask)
}

// put writes the code of row i, which must still be zero.
func (c *column) put(i int, code uint32) {
	pos := uint(i) * c.width
	off := pos & 63
	c.words[pos>>6] |= uint64(code) << off
	if off+c.width > 64 {
		c.words[pos>>6+1] |= uint64(code) >> (64 - off)
	}
}

func (c *column) bytes() int64 { return int64(len(c.words)) * 8 }

// growColumn is a column being loaded: it widens itself when a new symbol needs more
// bits, so a load never holds unpacked rows.
type growColumn struct {
	col  column
	rows int
}

func (g *growColumn) append(code uint32) {
	if need := uint(bits.Len32(code)); need > g.col.width {
		g.widen(need)
	}
	if need := packedWords(g.rows+1, g.col.width); need > len(g.col.words) {
		g.col.words = append(g.col.words, make([]uint64, need-len(g.col.words)+len(g.col.words)/2)...)
	}
	g.col.put(g.rows, code)
	g.rows++
}

func (g *growColumn) widen(width uint) {
	wider := newColumn(g.rows+g.rows/2+64, width)
	for i := 0; i < g.rows; i++ {
		wider.put(i, g.col.at(i))
	}
	g.col = wider
}

// collect adds the codes of the given rows (nil: all n rows) to out.
func (c *column) collect(rows bitset, n int, out bitset) {
	nw := wordsFor(n)
	parts := scanParts(nw)
	if parts == 1 {
		c.collectRange(rows, n, 0, nw, out)
		return
	}
	locals := make([]bitset, parts)
	splitWords(nw, parts, func(p, lo, hi int) {
		locals[p] = make(bitset, len(out))
		c.collectRange(rows, n, lo, hi, locals[p])
	})
	for _, l := range locals {
		out.or(l)
	}
}

func (c *column) collectRange(rows bitset, n, lo, hi int, out bitset) {
	for wi := lo; wi < hi; wi++ {
		w := rowWord(rows, n, wi)
		if w == ^uint64(0) {
			pos := uint(wi<<6) * c.width
			for range 64 {
				w := c.words[pos>>6 : pos>>6+2]
				code := uint32((w[0]>>(pos&63) | w[1]<<(64-pos&63)) & c.mask)
				out[code>>6] |= 1 << (code & 63)
				pos += c.width
			}
			continue
		}
		for w != 0 {
			i := wi<<6 | bits.TrailingZeros64(w)
			w &= w - 1
			code := c.at(i)
			out[code>>6] |= 1 << (code & 63)
		}
	}
}

// filter keeps in rows only those whose code is in allowed.
func (c *column) filter(rows bitset, allowed bitset) {
	nw := len(rows)
	splitWords(nw, scanParts(nw), func(_, lo, hi int) {
		for wi := lo; wi < hi; wi++ {
			w := rows[wi]
			if w == ^uint64(0) {
				keep := uint64(0)
				pos := uint(wi<<6) * c.width
				for j := range 64 {
					w := c.words[pos>>6 : pos>>6+2]
					code := uint32((w[0]>>(pos&63) | w[1]<<(64-pos&63)) & c.mask)
					keep |= (allowed[code>>6] >> (code & 63) & 1) << uint(j)
					pos += c.width
				}
				rows[wi] = keep
				continue
			}
			keep := w
			for w != 0 {
				b := bits.TrailingZeros64(w)
				w &= w - 1
				if !allowed.has(c.at(wi<<6 | b)) {
					keep &^= 1 << uint(b)
				}
			}
			rows[wi] = keep
		}
	})
}

// count adds, per code, the number of the given rows (nil: all n rows) holding it.
func (c *column) count(rows bitset, n int, counts []int64) {
	nw := wordsFor(n)
	parts := scanParts(nw)
	if len(counts) > n/8 {
		// A per-goroutine array as large as the rows would cost more than it saves.
		parts = 1
	}
	if parts == 1 {
		c.countRange(rows, n, 0, nw, counts)
		return
	}
	locals := make([][]int64, parts)
	splitWords(nw, parts, func(p, lo, hi int) {
		locals[p] = make([]int64, len(counts))
		c.countRange(rows, n, lo, hi, locals[p])
	})
	for _, l := range locals {
		for i, v := range l {
			counts[i] += v
		}
	}
}

func (c *column) countRange(rows bitset, n, lo, hi int, counts []int64) {
	for wi := lo; wi < hi; wi++ {
		w := rowWord(rows, n, wi)
		if w == ^uint64(0) {
			pos := uint(wi<<6) * c.width
			for range 64 {
				w := c.words[pos>>6 : pos>>6+2]
				counts[uint32((w[0]>>(pos&63)|w[1]<<(64-pos&63))&c.mask)]++
				pos += c.width
			}
			continue
		}
		for w != 0 {
			i := wi<<6 | bits.TrailingZeros64(w)
			w &= w - 1
			counts[c.at(i)]++
		}
	}
}

// maxCode is the largest code of the first n rows.
func (c *column) maxCode(n int) uint32 {
	var m uint32
	for i := 0; i < n; i++ {
		m = max(m, c.at(i))
	}
	return m
}
