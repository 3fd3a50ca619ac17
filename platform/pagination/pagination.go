// Package pagination implements AIP-158 page tokens for keyset pagination: a token names
// the last key of the previous page and is bound to the request that produced it, so it
// cannot be replayed with another filter or parent. Page sizes are clamped, never refused.
package pagination

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
)

const (
	// DefaultPageSize is used when a request asks for 0.
	DefaultPageSize = 50
	// MaxPageSize caps what a request may ask for.
	MaxPageSize = 1000
)

// PageSize clamps a requested page size into [1, MaxPageSize].
func PageSize(requested int32) int {
	switch {
	case requested <= 0:
		return DefaultPageSize
	case requested > MaxPageSize:
		return MaxPageSize
	}
	return int(requested)
}

// token is what a page token encodes. Fields are short: tokens travel in URLs.
type token struct {
	// After is the key of the last item of the previous page.
	After string `json:"a"`
	// Request is a checksum of the request with page_token and page_size cleared.
	Request uint64 `json:"r"`
}

// Encode returns the token that continues req after the item with key after.
func Encode(req proto.Message, after string) string {
	b, _ := json.Marshal(token{After: after, Request: checksum(req)})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode returns the key to continue after, "" for the first page, or an
// INVALID_ARGUMENT error naming page_token if the token is malformed or was issued for a
// request with other parameters.
func Decode(req proto.Message, pageToken string) (string, error) {
	if pageToken == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(pageToken)
	if err != nil {
		return "", invalid("is not a page token issued by this method")
	}
	var t token
	if err := json.Unmarshal(raw, &t); err != nil || t.After == "" {
		return "", invalid("is not a page token issued by this method")
	}
	if t.Request != checksum(req) {
		return "", invalid("was issued for a request with other parameters (filter, parent or order); start again without it")
	}
	return t.After, nil
}

func invalid(description string) error {
	return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_PAGE_TOKEN,
		apierr.FieldViolation{Field: "page_token", Description: description})
}

// checksum identifies the request's parameters apart from where the page starts and how
// long it is.
func checksum(req proto.Message) uint64 {
	clone := proto.Clone(req)
	fields := clone.ProtoReflect().Descriptor().Fields()
	for _, name := range []protoreflect.Name{"page_token", "page_size"} {
		if fd := fields.ByName(name); fd != nil {
			clone.ProtoReflect().Clear(fd)
		}
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(clone)
	sum := sha256.Sum256(append([]byte(clone.ProtoReflect().Descriptor().FullName()), b...))
	return binary.BigEndian.Uint64(sum[:8])
}
