// Package embedclient holds the built embed client: `oriel-embed.js` and the frame page
// `frame.html`, built from web/ into dist/ by `make embed-client` and compiled into the
// gateway binary. Until then dist/ holds only its README, and the edge answers 503 for
// the client's files.
package embedclient

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// The files of the built client the edge serves.
const (
	// Script is the client, the `<oriel-embed>` element.
	Script = "oriel-embed.js"
	// FramePage is the page an iframe shows.
	FramePage = "frame.html"
)

// Dist is the built client's files (oriel-embed.js, frame.html, …), at its root.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded, so it exists
	}
	return sub
}
