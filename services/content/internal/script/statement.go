package script

import "strings"

// compiler runs statements in order, holding what earlier statements set.
type compiler struct {
	src        *source
	vars       map[string]string
	connection string
	connected  bool
	tables     map[string]Position // where each table was defined
	actions    []Action
}

// statement runs one expanded statement.
func (c *compiler) statement(t *text) error {
	p := &parser{src: c.src, t: t}
	p.skipSpace()
	if p.eof() {
		return nil // an empty statement, such as `;;` or an expansion to nothing
	}
	start := p.i
	table, labelled, err := c.label(p)
	if err != nil {
		return err
	}
	at := p.i
	kw := strings.ToUpper(p.word())
	switch kw {
	case "SET", "LET", "CONNECT", "LIB", "TRACE":
		if labelled {
			return p.errorf(start, "only LOAD and SQL create a table: %s cannot follow a table name", kw)
		}
	case "LOAD", "SQL":
		if !labelled {
			return p.errorf(at, "table without a name: write its name and a colon before %s, as in Orders: %s", kw, kw)
		}
	case "":
		if labelled {
			return p.errorf(at, "expected LOAD or SQL after the table name")
		}
		return p.errorf(at, "unknown statement %s", quoteStart(t.r[at:]))
	default:
		if labelled {
			return p.errorf(at, "expected LOAD or SQL after the table name, found %s", short(string(p.t.r[at:p.i])))
		}
		return p.errorf(at, "unknown statement %s", short(string(p.t.r[at:p.i])))
	}
	switch kw {
	case "SET":
		return c.set(p)
	case "LET":
		return c.let(p)
	case "LIB":
		p.skipSpace()
		if !p.keyword("CONNECT") {
			return p.errorf(p.i, "expected CONNECT after LIB")
		}
		return c.connect(p)
	case "CONNECT":
		return c.connect(p)
	case "TRACE":
		c.actions = append(c.actions, &Trace{Pos: p.position(at), Text: p.rest()})
		return nil
	}
	if err := c.define(p, table, start); err != nil {
		return err
	}
	if kw == "SQL" {
		return c.sql(p, table, start, at)
	}
	return c.load(p, table, start)
}

// label reads `Name:` if the statement starts with one.
func (c *compiler) label(p *parser) (string, bool, error) {
	start := p.i
	bracketed := p.peek() == '[' || p.peek() == '"'
	name, ok, err := p.name()
	if err != nil || !ok {
		return "", false, err
	}
	p.skipSpace()
	if p.peek() == ':' {
		p.i++
		p.skipSpace()
		return name, true, nil
	}
	if bracketed {
		return "", false, p.errorf(p.i, "expected : after the table name")
	}
	p.i = start // a keyword, not a label
	return "", false, nil
}

// define records a table, refusing a name already used: the second table would replace
// or silently merge with the first.
func (c *compiler) define(p *parser, table string, at int) error {
	if first, ok := c.tables[table]; ok {
		return p.errorf(at, "table %s is defined twice (first at line %d, column %d)", short(table), first.Line, first.Column)
	}
	c.tables[table] = p.position(at)
	return nil
}

// set assigns the text after `=` as it is, without its quotes if it is one quoted string.
func (c *compiler) set(p *parser) error {
	name, err := c.assigned(p, "SET")
	if err != nil {
		return err
	}
	c.vars[name] = unquote(p.rest())
	return nil
}

// unquote removes the quotes of a value that is one 'single-quoted string', in which a
// doubled quote stands for one, and returns any other value as it is.
func unquote(value string) string {
	if len(value) < 2 || value[0] != '\'' || value[len(value)-1] != '\'' {
		return value
	}
	inner := value[1 : len(value)-1]
	// Every quote inside must be half of a pair: 'a' & 'b' is not one string.
	if strings.Count(strings.ReplaceAll(inner, "''", ""), "'") > 0 {
		return value
	}
	return strings.ReplaceAll(inner, "''", "'")
}

// let assigns the value of the expression after `=`.
func (c *compiler) let(p *parser) error {
	name, err := c.assigned(p, "LET")
	if err != nil {
		return err
	}
	v, err := (&expression{parser: p}).evaluate()
	if err != nil {
		return err
	}
	c.vars[name] = v.String()
	return nil
}

// assigned reads `name =` after SET or LET.
func (c *compiler) assigned(p *parser, kw string) (string, error) {
	p.skipSpace()
	at := p.i
	name := p.word()
	if name == "" {
		return "", p.errorf(at, "expected a variable name after %s", kw)
	}
	p.skipSpace()
	if p.peek() != '=' {
		return "", p.errorf(p.i, "expected = after %s %s", kw, name)
	}
	p.i++
	return name, nil
}

// connect reads `TO 'name'` after CONNECT.
func (c *compiler) connect(p *parser) error {
	p.skipSpace()
	if !p.keyword("TO") {
		return p.errorf(p.i, "expected TO after CONNECT")
	}
	p.skipSpace()
	at := p.i
	name, ok, err := p.quoted()
	if err != nil {
		return err
	}
	if !ok {
		return p.errorf(at, "expected the connection name in single quotes after CONNECT TO")
	}
	if strings.TrimFunc(name, isSpace) == "" {
		return p.errorf(at, "empty connection name")
	}
	p.skipSpace()
	if !p.eof() {
		return p.errorf(p.i, "unexpected text after the connection name")
	}
	c.connection, c.connected = name, true
	return nil
}

// sql reads `SELECT …` or `WITH …` after SQL; at is where SQL is.
func (c *compiler) sql(p *parser, table string, start, at int) error {
	p.skipSpace()
	from := p.i
	if !p.keyword("SELECT") && !p.keyword("WITH") {
		return p.errorf(from, "expected SELECT or WITH after SQL")
	}
	if !c.connected {
		return p.errorf(at, "SQL load without a connection: CONNECT TO one first")
	}
	p.i = from
	c.actions = append(c.actions, &SQLLoad{Pos: p.position(start), Table: table, Connection: c.connection, Statement: p.rest()})
	return nil
}

// quoteStart quotes the start of an unknown statement, up to the first space, for an
// error message.
func quoteStart(r []rune) string {
	end := 0
	for end < len(r) && end <= 40 && !isSpace(r[end]) {
		end++
	}
	return short(string(r[:end]))
}
