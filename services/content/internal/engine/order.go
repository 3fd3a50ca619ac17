package engine

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
)

// CompareValues orders values: numbers (by number, then text so that the order is
// total) before texts (by byte order), and nulls last.
func CompareValues(a, b Value) int {
	switch {
	case a.Null || b.Null:
		return boolOrder(a.Null) - boolOrder(b.Null)
	case a.IsNum && b.IsNum:
		if c := cmp.Compare(a.Num, b.Num); c != 0 {
			return c
		}
		return strings.Compare(a.Text, b.Text)
	case a.IsNum != b.IsNum:
		return boolOrder(b.IsNum) - boolOrder(a.IsNum)
	}
	return strings.Compare(a.Text, b.Text)
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SortRows sorts hypercube rows by the keys, then by every dimension ascending, then by
// every measure ascending; a descending key still puts nulls last.
func SortRows(rows [][]Value, dims int, keys []SortKey) {
	slices.SortStableFunc(rows, func(a, b []Value) int {
		for _, k := range keys {
			if k.Column < 0 || k.Column >= len(a) || k.Column >= len(b) {
				continue
			}
			x, y := a[k.Column], b[k.Column]
			c := CompareValues(x, y)
			if k.Descending && !x.Null && !y.Null {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		for i := 0; i < len(a) && i < len(b); i++ {
			if c := CompareValues(a[i], b[i]); c != 0 {
				return c
			}
		}
		return 0
	})
}

// numberValue is an aggregate's number with a text the live compiler also produces.
func numberValue(f float64) Value {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return NumberValue(f, strconv.FormatInt(int64(f), 10))
	}
	return NumberValue(f, FormatNumber(f))
}

// FormatNumber is the text of a computed number: the shortest that reads back as f, in
// positional notation (1668429.99, not Go's 1.66842999e+06) unless it is tiny or huge.
// Every computed value's text comes from here, in memory and live alike.
func FormatNumber(f float64) string {
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
