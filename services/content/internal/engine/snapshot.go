package engine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
)

// A snapshot is the magic and version, then sections: a tag, a length, the payload and
// the payload's CRC32. The header section describes fields and tables; then come each
// field's symbol table and each column's packed words and code set, written as they lie
// in memory so that opening is a few large reads and no per-row decoding.
const (
	snapshotMagic   = "ORIELMDL"
	snapshotVersion = 1

	tagHeader  = 1
	tagBlob    = 2
	tagOffsets = 3
	tagNumbers = 4
	tagByText  = 5
	tagWords   = 6
	tagPresent = 7
	tagEnd     = 8

	// readChunk bounds what a section's length can make ReadSnapshot allocate before the
	// bytes have actually arrived.
	readChunk = 1 << 20

	// unprovenRows bounds the rows of a table whose columns are all null.
	unprovenRows = 1 << 24
)

// WriteSnapshot writes the model.
func (m *Model) WriteSnapshot(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString(snapshotMagic)
	binary.Write(bw, binary.LittleEndian, uint32(snapshotVersion))
	var h []byte
	h = binary.AppendUvarint(h, uint64(len(m.fields)))
	for _, f := range m.fields {
		h = appendString(h, f.name)
		h = binary.AppendUvarint(h, uint64(f.syms.n))
		h = binary.AppendUvarint(h, uint64(f.syms.numeric))
	}
	h = binary.AppendUvarint(h, uint64(len(m.tables)))
	for _, t := range m.tables {
		h = appendString(h, t.name)
		h = appendString(h, t.src.Connection)
		h = appendString(h, t.src.Statement)
		h = binary.AppendUvarint(h, uint64(t.rows))
		h = binary.AppendUvarint(h, uint64(len(t.fields)))
		for j, f := range t.fields {
			h = binary.AppendUvarint(h, uint64(f))
			flags := uint64(0)
			if t.hasNull[j] {
				flags |= 1
			}
			if t.unique[j] {
				flags |= 2
			}
			h = binary.AppendUvarint(h, flags)
		}
	}
	writeSection(bw, tagHeader, h)
	for _, f := range m.fields {
		writeSection(bw, tagBlob, f.syms.blob)
		writeWords(bw, tagOffsets, f.syms.offs)
		writeWords(bw, tagNumbers, f.syms.nums)
		writeWords(bw, tagByText, f.syms.byText)
	}
	for _, t := range m.tables {
		for j := range t.cols {
			writeWords(bw, tagWords, t.cols[j].words)
			writeWords(bw, tagPresent, []uint64(t.present[j]))
		}
	}
	writeSection(bw, tagEnd, nil)
	return bw.Flush() // bufio keeps the first write error, so the ones above need no check
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func writeSection(w *bufio.Writer, tag uint32, payload []byte) {
	var head [12]byte
	binary.LittleEndian.PutUint32(head[:], tag)
	binary.LittleEndian.PutUint64(head[4:], uint64(len(payload)))
	w.Write(head[:])
	w.Write(payload)
	binary.Write(w, binary.LittleEndian, crc32.ChecksumIEEE(payload))
}

// writeWords streams a slice of fixed-size numbers as a section in chunks, so a large
// column is not copied whole.
func writeWords[T uint32 | uint64 | float64](w *bufio.Writer, tag uint32, words []T) {
	size := binary.Size(T(0))
	var head [12]byte
	binary.LittleEndian.PutUint32(head[:], tag)
	binary.LittleEndian.PutUint64(head[4:], uint64(len(words)*size))
	w.Write(head[:])
	crc := crc32.NewIEEE()
	buf := make([]byte, 0, 1<<15)
	for i := 0; i < len(words); {
		buf = buf[:0]
		for ; i < len(words) && len(buf) < cap(buf); i++ {
			buf, _ = binary.Append(buf, binary.LittleEndian, words[i])
		}
		crc.Write(buf)
		w.Write(buf)
	}
	binary.Write(w, binary.LittleEndian, crc.Sum32())
}

// snapshotReader reads sections, turning every failure into ErrCorruptSnapshot.
type snapshotReader struct{ r io.Reader }

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptSnapshot, fmt.Sprintf(format, args...))
}

// section reads a section with the given tag; want is its exact length, or -1.
func (s *snapshotReader) section(tag uint32, want int64) ([]byte, error) {
	var head [12]byte
	if _, err := io.ReadFull(s.r, head[:]); err != nil {
		return nil, corrupt("section %d: %v", tag, err)
	}
	if got := binary.LittleEndian.Uint32(head[:]); got != tag {
		return nil, corrupt("section %d where %d was expected", got, tag)
	}
	n := binary.LittleEndian.Uint64(head[4:])
	if n > math.MaxInt64/2 || (want >= 0 && n != uint64(want)) {
		return nil, corrupt("section %d has length %d", tag, n)
	}
	var buf bytes.Buffer
	buf.Grow(int(min(n, readChunk)))
	if _, err := io.CopyN(&buf, s.r, int64(n)); err != nil {
		return nil, corrupt("section %d is truncated: %v", tag, err)
	}
	var sum [4]byte
	if _, err := io.ReadFull(s.r, sum[:]); err != nil {
		return nil, corrupt("section %d has no checksum: %v", tag, err)
	}
	if binary.LittleEndian.Uint32(sum[:]) != crc32.ChecksumIEEE(buf.Bytes()) {
		return nil, corrupt("section %d fails its checksum", tag)
	}
	return buf.Bytes(), nil
}

func readWords[T uint32 | uint64 | float64](s *snapshotReader, tag uint32, count uint64) ([]T, error) {
	size := uint64(binary.Size(T(0)))
	if count > math.MaxInt64/16 {
		return nil, corrupt("section %d claims %d entries", tag, count)
	}
	b, err := s.section(tag, int64(count*size))
	if err != nil {
		return nil, err
	}
	out := make([]T, count)
	if _, err := binary.Decode(b, binary.LittleEndian, out); err != nil {
		return nil, corrupt("section %d: %v", tag, err)
	}
	return out, nil
}

// headerCursor decodes the header, failing on any overrun.
type headerCursor struct {
	b   []byte
	err error
}

func (c *headerCursor) uint() uint64 {
	if c.err != nil {
		return 0
	}
	v, n := binary.Uvarint(c.b)
	if n <= 0 {
		c.err = corrupt("the header is cut short")
		return 0
	}
	c.b = c.b[n:]
	return v
}

// count is a number of entries that each take at least one more header byte.
func (c *headerCursor) count() int {
	v := c.uint()
	if v > uint64(len(c.b)) {
		c.err = corrupt("the header claims %d entries", v)
		return 0
	}
	return int(v)
}

func (c *headerCursor) string() string {
	n := c.count()
	if c.err != nil {
		return ""
	}
	s := string(c.b[:n])
	c.b = c.b[n:]
	return s
}

// ReadSnapshot opens a model written by WriteSnapshot. Anything corrupt or truncated
// is ErrCorruptSnapshot.
func ReadSnapshot(r io.Reader) (*Model, error) {
	var magic [12]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, corrupt("no magic: %v", err)
	}
	if string(magic[:8]) != snapshotMagic {
		return nil, corrupt("not a model snapshot")
	}
	if v := binary.LittleEndian.Uint32(magic[8:]); v != snapshotVersion {
		return nil, corrupt("version %d is not %d", v, snapshotVersion)
	}
	s := &snapshotReader{r: r}
	head, err := s.section(tagHeader, -1)
	if err != nil {
		return nil, err
	}
	m, err := decodeHeader(head)
	if err != nil {
		return nil, err
	}
	for _, f := range m.fields {
		if err := readSymbols(s, &f.syms); err != nil {
			return nil, fmt.Errorf("field %q: %w", f.name, err)
		}
	}
	for _, t := range m.tables {
		proven := false
		for j, f := range t.fields {
			if err := readColumn(s, t, j, m.fields[f].syms.n); err != nil {
				return nil, fmt.Errorf("table %q, field %q: %w", t.name, m.fields[f].name, err)
			}
			proven = proven || t.cols[j].width > 0
		}
		// Packed words prove a table's row count; without any, a forged count could make
		// every query allocate row sets of absurd size.
		if !proven && t.rows > unprovenRows {
			return nil, corrupt("table %q claims %d rows that no column holds", t.name, t.rows)
		}
	}
	if _, err := s.section(tagEnd, 0); err != nil {
		return nil, err
	}
	m.linkComponents()
	m.full = &View{m: m, base: make([]bitset, len(m.tables))}
	return m, nil
}

func decodeHeader(head []byte) (*Model, error) {
	c := &headerCursor{b: head}
	m := &Model{byName: map[string]int{}}
	nf := c.count()
	var names []string
	for i := 0; i < nf && c.err == nil; i++ {
		f := &field{name: c.string()}
		n, numeric := c.uint(), c.uint()
		if c.err == nil && (f.name == "" || n >= math.MaxUint32 || numeric > n) {
			return nil, corrupt("field %d is malformed", i)
		}
		if _, dup := m.byName[f.name]; dup {
			return nil, corrupt("field %q appears twice", f.name)
		}
		f.syms.n, f.syms.numeric = int(n), int(numeric)
		m.byName[f.name] = i
		m.fields = append(m.fields, f)
		names = append(names, f.name)
	}
	nt := c.count()
	tableNames := map[string]bool{}
	var tnames []string
	var tfields [][]int
	for i := 0; i < nt && c.err == nil; i++ {
		t := &table{name: c.string(), src: TableSource{Connection: c.string(), Statement: c.string()}}
		rows, ncols := c.uint(), c.count()
		if c.err == nil && (t.name == "" || tableNames[t.name] || rows > 1<<40) {
			return nil, corrupt("table %d is malformed", i)
		}
		tableNames[t.name] = true
		t.rows = int(rows)
		seen := map[uint64]bool{}
		for j := 0; j < ncols && c.err == nil; j++ {
			f, flags := c.uint(), c.uint()
			if c.err == nil && (f >= uint64(len(m.fields)) || seen[f] || flags > 3) {
				return nil, corrupt("table %q has a malformed column", t.name)
			}
			seen[f] = true
			t.fields = append(t.fields, int(f))
			t.hasNull = append(t.hasNull, flags&1 != 0)
			t.unique = append(t.unique, flags&2 != 0)
		}
		m.tables = append(m.tables, t)
		tnames = append(tnames, t.name)
		tfields = append(tfields, t.fields)
	}
	if c.err != nil {
		return nil, c.err
	}
	if len(c.b) != 0 {
		return nil, corrupt("the header has %d bytes too many", len(c.b))
	}
	if err := checkAssociations(tnames, tfields, names); err != nil {
		return nil, corrupt("%v", err)
	}
	for ti, t := range m.tables {
		for _, f := range t.fields {
			m.fields[f].tables = append(m.fields[f].tables, ti)
		}
	}
	return m, nil
}

func readSymbols(s *snapshotReader, syms *symbols) error {
	blob, err := s.section(tagBlob, -1)
	if err != nil {
		return err
	}
	if uint64(len(blob)) > math.MaxUint32 {
		return corrupt("the texts are too long")
	}
	syms.blob = bytes.Clone(blob)
	if syms.offs, err = readWords[uint32](s, tagOffsets, uint64(syms.n)+1); err != nil {
		return err
	}
	if syms.offs[0] != 0 || syms.offs[syms.n] != uint32(len(blob)) {
		return corrupt("the text offsets do not span the texts")
	}
	for i := 1; i <= syms.n; i++ {
		if syms.offs[i] < syms.offs[i-1] {
			return corrupt("the text offsets go backwards")
		}
	}
	if syms.nums, err = readWords[float64](s, tagNumbers, uint64(syms.numeric)); err != nil {
		return err
	}
	if syms.numeric == 0 {
		syms.nums = nil
	}
	if syms.byText, err = readWords[uint32](s, tagByText, uint64(syms.n)); err != nil {
		return err
	}
	seen := newBitset(syms.n + 1)
	for _, c := range syms.byText {
		if c == 0 || int(c) > syms.n || seen.has(c) {
			return corrupt("the text index is not a permutation")
		}
		seen.set(c)
	}
	return nil
}

func readColumn(s *snapshotReader, t *table, j, nsym int) error {
	width := uint(bits.Len(uint(nsym)))
	words, err := readWords[uint64](s, tagWords, uint64(packedWords(t.rows, width)))
	if err != nil {
		return err
	}
	col := column{width: width, mask: 1<<width - 1, words: words}
	// A code past the symbols would index out of every array; a checksum does not
	// prove a snapshot was written by us, so every code is checked once.
	if uint64(nsym) != col.mask && int(col.maxCode(t.rows)) > nsym {
		return corrupt("a code is past the symbols")
	}
	present, err := readWords[uint64](s, tagPresent, uint64(wordsFor(nsym+1)))
	if err != nil {
		return err
	}
	if bitset(present).has(0) || (nsym+1)&63 != 0 && present[len(present)-1]>>uint((nsym+1)&63) != 0 {
		return corrupt("the code set is malformed")
	}
	t.cols = append(t.cols, col)
	t.present = append(t.present, present)
	return nil
}
