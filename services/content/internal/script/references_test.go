package script

import (
	"errors"
	"slices"
	"testing"
)

func TestReferences(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"none", "T:\nLOAD * INLINE [\na\n1\n];", nil},
		{"in SQL, once each, in order", "CONNECT TO '$(conn)';\nT: SQL SELECT * FROM $(schema).t WHERE r = '$(region)' AND s = '$(schema)';", []string{"conn", "schema", "region"}},
		{"comments are not expanded", "// $(commented)\n/* $(blocked) */\nT: SQL SELECT $(used);", []string{"used"}},
		{"SET before use needs no value", "SET schema = public;\nT: SQL SELECT * FROM $(schema).t;", nil},
		{"use before SET needs one", "T: SQL SELECT * FROM $(schema).t;\nSET schema = public;", []string{"schema"}},
		{"LET reading its own old value", "LET n = $(n) + 1;", []string{"n"}},
		{"inside inline data", "T:\nLOAD * INLINE [\na\n$(x)\n];", []string{"x"}},
		{"quoted ; does not split", "T: SQL SELECT ';' || '$(a)';", []string{"a"}},
	} {
		got, err := References(tc.src)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: References = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	var e *Error
	if _, err := References("T: SQL SELECT 'unterminated;"); !errors.As(err, &e) {
		t.Errorf("an unterminated string: %v, want an *Error", err)
	}
}
