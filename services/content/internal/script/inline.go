package script

import "strings"

// load reads `* INLINE [ … ]` or `a, b INLINE [ … ]` after LOAD.
func (c *compiler) load(p *parser, table string, start int) error {
	p.skipSpace()
	var selected []string // nil: all fields
	var selectedAt []int
	seen := map[string]bool{} // maps, not slices.Contains: a field list can be long
	if p.peek() == '*' {
		p.i++
	} else if at := p.i; p.keyword("INLINE") {
		return p.errorf(at, "expected a field name or * before INLINE")
	} else {
		for {
			p.skipSpace()
			at := p.i
			name, ok, err := p.name()
			if err != nil {
				return err
			}
			if !ok {
				return p.errorf(at, "expected a field name or * after LOAD")
			}
			if seen[name] {
				return p.errorf(at, "field %s is loaded twice", short(name))
			}
			seen[name] = true
			selected, selectedAt = append(selected, name), append(selectedAt, at)
			p.skipSpace()
			if p.peek() != ',' {
				break
			}
			p.i++
		}
	}
	p.skipSpace()
	if !p.keyword("INLINE") {
		return p.errorf(p.i, "expected INLINE: LOAD reads only inline data (read a database with SQL SELECT)")
	}
	p.skipSpace()
	if p.peek() != '[' {
		return p.errorf(p.i, "expected [ after INLINE")
	}
	open := p.i
	end := p.closingBracket(open)
	if end < 0 {
		return p.errorf(open, "unterminated inline data: missing ]")
	}
	p.i = end + 1
	p.skipSpace()
	if !p.eof() {
		return p.errorf(p.i, "unexpected text after the inline data")
	}
	header, rows, err := p.inline(open+1, end)
	if err != nil {
		return err
	}
	fields := header
	if selected != nil {
		// Keep the selected fields, in the order LOAD names them.
		column := make(map[string]int, len(header))
		for i, name := range header {
			column[name] = i
		}
		index := make([]int, len(selected))
		for i, name := range selected {
			j, ok := column[name]
			if !ok {
				return p.errorf(selectedAt[i], "field %s is not in the inline data's header", short(name))
			}
			index[i] = j
		}
		for r, row := range rows {
			kept := make([]*string, len(index))
			for i, j := range index {
				kept[i] = row[j]
			}
			rows[r] = kept
		}
		fields = selected
	}
	c.actions = append(c.actions, &InlineLoad{Pos: p.position(start), Table: table, Fields: fields, Rows: rows})
	return nil
}

// closingBracket finds the ] that ends the inline data opened at open. When the [ is in the
// source, so must the ] be: the splitter ended the statement by that one, and a ] a
// variable's value brings into the data is data.
func (p *parser) closingBracket(open int) int {
	literal := !p.t.org[open].expanded
	for i := open + 1; i < len(p.t.r); i++ {
		if p.t.r[i] == ']' && (!literal || !p.t.org[i].expanded) {
			return i
		}
	}
	return -1
}

// inline parses the data between from and to: the first line that is not blank holds the
// field names, each later one that is not blank a row.
func (p *parser) inline(from, to int) (header []string, rows [][]*string, err error) {
	rows = [][]*string{}
	for start := from; start < to; {
		end := start
		for end < to && p.t.r[end] != '\n' {
			end++
		}
		line := start
		for line < end && isSpace(p.t.r[line]) {
			line++
		}
		if line < end {
			values, at, err := p.values(line, end)
			if err != nil {
				return nil, nil, err
			}
			if header == nil {
				if header, err = p.header(values, at); err != nil {
					return nil, nil, err
				}
			} else if len(values) != len(header) {
				return nil, nil, p.errorf(line, "row has %d %s, but the header has %d %s",
					len(values), plural(len(values), "value"), len(header), plural(len(header), "field"))
			} else {
				rows = append(rows, values)
			}
		}
		start = end + 1
	}
	if header == nil {
		return nil, nil, p.errorf(from-1, "inline data without a header line")
	}
	return header, rows, nil
}

// header checks the field names; at is where each starts.
func (p *parser) header(values []*string, at []int) ([]string, error) {
	names := make([]string, len(values))
	seen := make(map[string]bool, len(values))
	for i, v := range values {
		if v == nil || strings.TrimFunc(*v, isSpace) == "" {
			return nil, p.errorf(at[i], "empty field name in the inline header")
		}
		if seen[*v] {
			return nil, p.errorf(at[i], "field %s appears twice in the inline header", short(*v))
		}
		seen[*v] = true
		names[i] = *v
	}
	return names, nil
}

// values splits one line of inline data at its commas. A value is trimmed, and empty means
// null; a value in '…' or "…" (the quote doubled inside) may hold commas and keeps its
// spaces, and quotes with nothing between are an empty string, not null. at is where
// each value starts.
func (p *parser) values(from, to int) (values []*string, at []int, err error) {
	i := from
	for {
		for i < to && isSpace(p.t.r[i]) {
			i++
		}
		at = append(at, i)
		if i < to && (p.t.r[i] == '\'' || p.t.r[i] == '"') {
			var b strings.Builder
			q, open := p.t.r[i], i
			for i++; ; i++ {
				if i >= to {
					return nil, nil, p.errorf(open, "unterminated quoted value: missing closing %c", q)
				}
				if p.t.r[i] != q {
					b.WriteRune(p.t.r[i])
					continue
				}
				if i+1 < to && p.t.r[i+1] == q {
					b.WriteRune(q)
					i++
					continue
				}
				i++
				break
			}
			for i < to && isSpace(p.t.r[i]) {
				i++
			}
			if i < to && p.t.r[i] != ',' {
				return nil, nil, p.errorf(i, "unexpected text after a quoted value: quote the whole value")
			}
			s := b.String()
			values = append(values, &s)
		} else {
			start := i
			for i < to && p.t.r[i] != ',' {
				i++
			}
			var v *string
			if s := strings.TrimFunc(string(p.t.r[start:i]), isSpace); s != "" {
				v = &s
			}
			values = append(values, v)
		}
		if i == to {
			return values, at, nil
		}
		i++ // the comma
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
