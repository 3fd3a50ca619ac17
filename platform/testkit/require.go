package testkit

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// The Require helpers stop the test at the first difference, naming what was checked:
// a conformance suite's behaviours build on each step, so carrying on after one fails
// only buries it under failures that follow from it.

// RequireProto fails the test unless got equals want field for field, printing both.
func RequireProto(t testing.TB, what string, want, got proto.Message) {
	t.Helper()
	if !proto.Equal(want, got) {
		t.Fatalf("%s:\ngot:\n%s\nwant:\n%s", what, prototext.Format(got), prototext.Format(want))
	}
}

// RequireErrorIs fails the test unless err is target (errors.Is).
func RequireErrorIs(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

// RequireNoError fails the test if err is not nil.
func RequireNoError(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// RequireEqual fails the test unless got equals want.
func RequireEqual[T comparable](t testing.TB, what string, want, got T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// RequireStrings fails the test unless got and want hold the same strings in the same order.
func RequireStrings(t testing.TB, what string, want, got []string) {
	t.Helper()
	if !slices.Equal(want, got) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

// ResourceID is the id that ends a resource name ("tenants/acme/apps/sales" → "sales").
func ResourceID(name string) string { return name[strings.LastIndex(name, "/")+1:] }
