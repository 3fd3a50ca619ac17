package testkit

import (
	"crypto/rand"
	"strings"
)

const (
	// uniqueIDMaxLen keeps ids within the tightest resource-id limit in our APIs.
	uniqueIDMaxLen = 30
	// uniqueIDSuffixLen gives 50 random bits: collisions stay negligible across
	// every parallel test process sharing one server.
	uniqueIDSuffixLen = 10
	uniqueIDAlphabet  = "abcdefghijklmnopqrstuvwxyz234567"
)

// UniqueID returns a random resource id starting with prefix, so parallel tests never collide on shared state.
//
// The id is lowercase letters, digits and hyphens, starts with a letter, ends
// with a letter or digit and is at most 30 characters. The prefix is
// normalised to fit and shortened if needed; it is there to make ids readable
// when a test fails, not to make them unique.
func UniqueID(prefix string) string {
	p := normaliseIDPrefix(prefix, uniqueIDMaxLen-uniqueIDSuffixLen-1)
	var b [uniqueIDSuffixLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = uniqueIDAlphabet[b[i]%byte(len(uniqueIDAlphabet))]
	}
	return p + "-" + string(b[:])
}

// normaliseIDPrefix maps anything outside [a-z0-9] to single hyphens and makes
// sure the result starts with a letter.
func normaliseIDPrefix(prefix string, maxLen int) string {
	var sb strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(prefix) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			if sb.Len() == 0 && r <= '9' {
				sb.WriteString("t") // ids must start with a letter
			}
			if hyphen && sb.Len() > 0 {
				sb.WriteByte('-')
			}
			hyphen = false
			sb.WriteRune(r)
		default:
			hyphen = true
		}
	}
	p := sb.String()
	if p == "" {
		p = "id"
	}
	if len(p) > maxLen {
		p = strings.TrimRight(p[:maxLen], "-")
	}
	return p
}
