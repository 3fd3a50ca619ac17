package script

import (
	"regexp"
	"strings"
)

// referencePattern is a `$(name)` expansion; assignmentPattern a statement that gives a
// variable a value.
var (
	referencePattern  = regexp.MustCompile(`\$\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)`)
	assignmentPattern = regexp.MustCompile(`(?i)^\s*(?:SET|LET)\s+([A-Za-z_][A-Za-z0-9_]*)\s*=`)
)

// References returns the variables src expands that it does not assign itself (with SET
// or LET) before expanding them, each once, in order of first use: the values a reload
// must be given. Statements are cut as Compile cuts them, so an expansion inside a comment
// is none. A source that does not split into statements is an *Error.
func References(src string) ([]string, error) {
	if len(src) > MaxSourceBytes {
		return nil, &Error{Pos: Position{Line: 1, Column: 1}, Message: "script too large"}
	}
	split := &splitter{src: newSource(src)}
	assigned := map[string]bool{}
	seen := map[string]bool{}
	var out []string
	for {
		t, err := split.next()
		if err != nil {
			return nil, err
		}
		if t == nil {
			return out, nil
		}
		stmt := string(t.r)
		body := stmt
		m := assignmentPattern.FindStringSubmatchIndex(stmt)
		if m != nil {
			// The value may expand the variable's old value: it is read before the name
			// counts as assigned.
			body = stmt[m[1]:]
		}
		for _, m := range referencePattern.FindAllStringSubmatch(body, -1) {
			if name := strings.TrimSpace(m[1]); !assigned[name] && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
		if m != nil {
			assigned[stmt[m[2]:m[3]]] = true
		}
	}
}
