package jwtauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeObjectByTokens is the reference decodeObject is checked against: the obvious
// json.Decoder token walk, building values and refusing a key already in its object.
func decodeObjectByTokens(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return nil, errNotObject
	}
	items := 1
	obj, err := tokensObject(dec, 1, &items)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return obj, nil
}

// items counts containers and every member or element after a container's first, as
// decodeObject's bound does.
func tokensObject(dec *json.Decoder, depth int, items *int) (map[string]any, error) {
	obj := map[string]any{}
	for n := 0; dec.More(); n++ {
		if n > 0 {
			if *items++; *items > maxJSONItems {
				return nil, errTooMany
			}
		}
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return nil, errNotObject
		}
		if _, dup := obj[key]; dup {
			return nil, duplicateKeyError{key}
		}
		if obj[key], err = tokensValue(dec, depth, items); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, errNotObject
	}
	return obj, nil
}

func tokensValue(dec *json.Decoder, depth int, items *int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, errNotObject
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxJSONDepth {
		return nil, errTooDeep
	}
	if *items++; *items > maxJSONItems {
		return nil, errTooMany
	}
	if d == '{' {
		return tokensObject(dec, depth+1, items)
	}
	arr := []any{}
	for n := 0; dec.More(); n++ {
		if n > 0 {
			if *items++; *items > maxJSONItems {
				return nil, errTooMany
			}
		}
		v, err := tokensValue(dec, depth+1, items)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, errNotObject
	}
	return arr, nil
}

func TestDecodeObjectRefusesDuplicateKeysAndDeepNesting(t *testing.T) {
	many := func(n int, dup bool) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
		}
		if dup {
			b.WriteString(`,"kxxx":2`)
		}
		b.WriteString("}")
		return b.String()
	}
	for _, tc := range []struct {
		name, json string
		ok         bool
	}{
		{"a plain object", `{"a":1,"b":"x","c":[1,{"a":2}],"d":{"a":{"a":null}}}`, true},
		{"the same key in sibling objects", `{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}`, true},
		{"a key equal to a string value", `{"a":"b","b":"a"}`, true},
		{"keys with escaped quotes", `{"a\"b":1,"a\\":2,"a":3}`, true},
		{"a duplicate", `{"a":1,"a":2}`, false},
		{"a duplicate after a nested object", `{"a":{"b":1,"c":2},"a":2}`, false},
		{"a duplicate in a nested object", `{"x":[{"a":1,"a":2}]}`, false},
		{"a duplicate by escape", `{"sub":1,"\u0073ub":2}`, false},
		{"a duplicate by escaped slash", `{"a/b":1,"a\/b":2}`, false},
		{"a duplicate by surrogate pair", `{"😀":1,"\ud83d\ude00":2}`, false},
		{"two lone surrogates read as U+FFFD", `{"\ud800":1,"\udbff":2}`, false},
		{"40 keys without a duplicate", many(40, false), true},
		{"400 keys without a duplicate", many(400, false), true},
		{"40 keys with a duplicate", many(40, true), false},
		{"32 levels", strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32), true},
		{"33 levels", strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33), false},
		{"33 levels of arrays", `{"a":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + "}", false},
		{"null", `null`, false},
		{"an array", `[]`, false},
		{"two objects", `{} {}`, false},
		{"trailing garbage", `{}x`, false},
		{"a bare string", `"x"`, false},
		{"512 values", `{"a":[` + strings.Repeat("0,", 510) + `0]}`, true},
		{"513 values", `{"a":[` + strings.Repeat("0,", 511) + `0]}`, false},
		{"an unterminated string", `{"a":"x}`, false},
		{"an unterminated key with an escape", `{"a\`, false},
		{"a stray closing brace", `}{`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeObject([]byte(tc.json))
			if (err == nil) != tc.ok {
				t.Fatalf("decodeObject(%s) = %v, %v; want ok=%v", tc.json, got, err, tc.ok)
			}
			want, refErr := decodeObjectByTokens([]byte(tc.json))
			if (refErr == nil) != tc.ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("the token walk disagrees: %v, %v", want, refErr)
			}
		})
	}
}

// FuzzDecodeObject proves decodeObject and the token walk agree on every input: the same
// objects accepted, with the same values, and the same inputs refused.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":[1,{"c":"d"}]},"e":null}`, `{"\u0061":1,"a":2}`,
		`{"a\"":1,"a\\":2}`, `{"":1,"":2}`, `{"x":[[[[{}]]]]}`, `{} `, ` {"a" : [ true , false ] } `,
		`{"a":1.5e3,"b":-0,"c":"\ud800"}`, `{"a":"\\"}`, `[]`, `{`, `{"a":}`,
		`{"a":"x}`, `}{`, `{"a\`, `{"a":[` + strings.Repeat("0,", 511) + `0]}`, strings.Repeat("[", 40),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) { // decodePart refuses invalid UTF-8 before decodeObject
			return
		}
		got, err := decodeObject(b)
		want, refErr := decodeObjectByTokens(b)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("decodeObject: %v; token walk: %v; input %q", err, refErr, b)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("values differ: %v vs %v", got, want)
		}
	})
}
