package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// contentIDEncoding is lowercase base32, whose letters and digits fit resource ids.
var contentIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newContentID makes an id for a space or an app whose creator chose none: prefix (a
// letter, as ids start with one) and 96 random bits.
func newContentID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + contentIDEncoding.EncodeToString(b)
}

// tenantOfName returns the tenant id of a name under `tenants/{tenant}`, "" otherwise.
func tenantOfName(name string) string { return segments(name)["tenants"] }

// spaceIDOf returns the space id of a space name.
func spaceIDOf(space string) string { return segments(space)["spaces"] }

// appIDOf returns the app id of an app name (or of a name below it, such as a revision's).
func appIDOf(app string) string { return segments(app)["apps"] }

// maxIDLen is the longest id a name segment of an app may have.
const maxIDLen = 63

// publishedSuffix ends the id of an app's published copy.
const publishedSuffix = "-published"

// publishedAppID is the id of the published copy of the app with id source, in the same
// tenant: the source's id with "-published", so the copy's name is stable across
// republishing (embeds keep working) and anyone reading it sees where it came from. An id
// too long for the suffix keeps its first characters and a hash of the whole, which keeps
// copies of long ids that share a prefix apart.
func publishedAppID(source string) string {
	if len(source)+len(publishedSuffix) <= maxIDLen {
		return source + publishedSuffix
	}
	sum := sha256.Sum256([]byte(source))
	hash := contentIDEncoding.EncodeToString(sum[:])[:10]
	keep := maxIDLen - len(publishedSuffix) - len(hash) - 1
	return strings.TrimRight(source[:keep], "-") + "-" + hash + publishedSuffix
}
