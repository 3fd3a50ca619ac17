package jwtauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// parsedToken is a token whose format check passed: its header and payload decoded, and
// nothing about it trusted yet.
type parsedToken struct {
	raw     string
	header  map[string]any
	payload map[string]any
}

// b64 is the only encoding of a JWT part (RFC 7515 §2). Strict rejects set padding bits;
// canonicalPart additionally rejects the \r and \n that encoding/base64 skips silently.
var b64 = base64.RawURLEncoding.Strict()

// b64Value maps a byte to its base64url value, or -1.
var b64Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

func sizeDetail(n int) string {
	return fmt.Sprintf("the token is %d bytes; at most %d are accepted", n, maxTokenBytes)
}

// parseToken checks the format of token and decodes it; on failure it returns nil and a
// sentence saying why.
func parseToken(token string) (*parsedToken, string) {
	if n := strings.Count(token, "."); n != 2 {
		return nil, fmt.Sprintf("a JWT has three parts separated by dots; this has %d", n+1)
	}
	h, rest, _ := strings.Cut(token, ".")
	p, s, _ := strings.Cut(rest, ".")
	for _, part := range [...]struct{ name, s string }{{"header", h}, {"payload", p}, {"signature", s}} {
		if why := canonicalPart(part.s); why != "" {
			return nil, "the " + part.name + " " + why
		}
	}
	header, why := decodePart(h)
	if why != "" {
		return nil, "the header " + why
	}
	if _, ok := header["crit"]; ok {
		// RFC 7515 §4.1.11: a recipient must reject a token with critical extensions it
		// does not understand, and we understand none.
		return nil, "the header has a crit parameter; no JWS extension is supported"
	}
	payload, why := decodePart(p)
	if why != "" {
		return nil, "the payload " + why
	}
	return &parsedToken{raw: token, header: header, payload: payload}, ""
}

// canonicalPart says why s is not the one canonical unpadded base64url encoding of some
// bytes, or "" when it is: a second spelling of the same bytes is a second token.
func canonicalPart(s string) string {
	if s == "" {
		return "is empty (unsigned tokens are never accepted)"
	}
	for i := 0; i < len(s); i++ {
		if b64Value[s[i]] < 0 {
			if s[i] == '=' {
				return "has base64 padding, which a JWT never has"
			}
			return "has a character outside the base64url alphabet"
		}
	}
	last := b64Value[s[len(s)-1]]
	switch len(s) % 4 {
	case 1:
		return "has a length no base64 encoding has"
	case 2:
		if last&0x0f != 0 {
			return "is not canonical base64url: its last character has unused bits set"
		}
	case 3:
		if last&0x03 != 0 {
			return "is not canonical base64url: its last character has unused bits set"
		}
	}
	return ""
}

// decodePart decodes a canonical base64url part holding a JSON object.
func decodePart(s string) (map[string]any, string) {
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, "is not valid base64url"
	}
	if !utf8.Valid(b) {
		// encoding/json would replace bad bytes with U+FFFD, so two different byte strings
		// would read as one claim value.
		return nil, "is not valid UTF-8"
	}
	obj, err := decodeObject(b)
	if err != nil {
		return nil, err.Error()
	}
	return obj, ""
}

// maxJSONDepth bounds nesting; no claim Oriel reads is deeper than a list of strings.
const maxJSONDepth = 32

// maxJSONItems bounds the values of a header or payload (counted as its commas and
// containers): decoding costs per value, and without a bound an 8 KB token of a few
// thousand tiny values would cost ten signature checks before its signature is looked at.
// A real token has a few dozen claims and at most 100 groups.
const maxJSONItems = 512

var (
	errNotObject = errors.New("is not a JSON object")
	errTooDeep   = fmt.Errorf("nests JSON deeper than %d levels", maxJSONDepth)
	errTooMany   = fmt.Errorf("has more than %d JSON values", maxJSONItems)
)

type duplicateKeyError struct{ key string }

func (e duplicateKeyError) Error() string {
	return "has the key " + quoteShort(e.key) + " twice; duplicate keys are ambiguous"
}

// decodeObject decodes b, which must hold exactly one JSON object, into maps, slices,
// strings, json.Numbers, bools and nils, refusing duplicate keys at any depth:
// encoding/json silently keeps the last of them, and a token whose claims two parsers
// read differently must not exist. checkKeys first bounds the shape in one cheap pass
// (duplicates, depth, size), then encoding/json validates and decodes. (A json.Decoder
// token walk gives the same answers, and the tests check against one, but it allocates an
// error value per scalar and cost a sixth of Verify.)
func decodeObject(b []byte) (map[string]any, error) {
	if err := checkKeys(b); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // exact NumericDates; float64 would round
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("has data after its JSON object")
	}
	return obj, nil
}

// checkKeys finds a key that appears twice in one object of b, comparing keys as
// encoding/json decodes them, nesting deeper than maxJSONDepth, and more than
// maxJSONItems values. It runs before b is known to be valid JSON, so it never assumes
// it is: whatever it lets through, encoding/json still judges.
func checkKeys(b []byte) error {
	var (
		stack     [maxJSONDepth]keyFrame
		depth     int
		keyBuf    [32][]byte // a token's keys usually fit: no allocation
		keys      = keyBuf[:0]
		items     int
		expectKey bool
	)
	for i := 0; i < len(b); {
		switch c := b[i]; c {
		case '{', '[':
			if depth == maxJSONDepth {
				return errTooDeep
			}
			if items++; items > maxJSONItems {
				return errTooMany
			}
			stack[depth] = keyFrame{object: c == '{', first: len(keys)}
			depth++
			expectKey = c == '{'
			i++
		case '}', ']':
			if depth == 0 {
				return errNotObject
			}
			depth--
			keys = keys[:stack[depth].first]
			expectKey = false
			i++
		case ',':
			if items++; items > maxJSONItems {
				return errTooMany
			}
			expectKey = depth > 0 && stack[depth-1].object
			i++
		case '"':
			end, escaped := i+1, false
			for end < len(b) && b[end] != '"' {
				if b[end] == '\\' {
					escaped = true
					end++
				}
				end++
			}
			if end >= len(b) {
				return errNotObject
			}
			if expectKey {
				key := b[i+1 : end]
				if escaped {
					var s string
					if err := json.Unmarshal(b[i:end+1], &s); err != nil {
						return errNotObject
					}
					key = []byte(s)
				}
				f := &stack[depth-1]
				if dup := f.add(key, keys[f.first:]); dup {
					return duplicateKeyError{string(key)}
				}
				keys = append(keys, key)
				expectKey = false
			}
			i = end + 1
		default:
			i++
		}
	}
	return nil
}

// keyFrame is an open object or array during checkKeys.
type keyFrame struct {
	object bool
	first  int                 // index in checkKeys' keys of this object's first key
	set    map[string]struct{} // built once an object has many keys, so a token of a thousand keys stays linear
}

// add reports whether key is among seen (the object's keys so far), remembering it if not.
func (f *keyFrame) add(key []byte, seen [][]byte) (dup bool) {
	if f.set == nil && len(seen) < 16 {
		for _, k := range seen {
			if bytes.Equal(k, key) {
				return true
			}
		}
		return false
	}
	if f.set == nil {
		f.set = make(map[string]struct{}, 2*len(seen))
		for _, k := range seen {
			f.set[string(k)] = struct{}{}
		}
	}
	if _, ok := f.set[string(key)]; ok {
		return true
	}
	f.set[string(key)] = struct{}{}
	return false
}

// tokenIssuer returns the token's iss, or why it has none usable.
func tokenIssuer(payload map[string]any) (string, string) {
	v, ok := payload["iss"]
	if !ok {
		return "", "the token has no iss claim"
	}
	s, ok := v.(string)
	if !ok {
		return "", "iss is not a string"
	}
	if s == "" {
		return "", "iss is empty"
	}
	return s, ""
}

// quoteShort quotes a value taken from a token for a detail message: escaped, so it
// cannot forge log lines, and cut short, so it cannot fill them.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}
