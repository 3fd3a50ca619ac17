package commands

import (
	"fmt"
	"io"

	"github.com/oriel-dev/oriel/platform/auth"
)

// KeysCmd is `oriel keys`.
type KeysCmd struct {
	Generate KeysGenerateCmd `cmd:"" help:"Print a new random API key, e.g. for ORIEL_BOOTSTRAP_ADMIN_KEY in production."`
}

// KeysGenerateCmd is `oriel keys generate`. It makes the key locally (no network, no
// API key needed) so that an operator can create the bootstrap admin key before any
// service runs.
type KeysGenerateCmd struct{}

// Run prints the key alone on stdout, so that `$(oriel keys generate)` captures exactly it.
func (c *KeysGenerateCmd) Run(out io.Writer) error {
	_, err := fmt.Fprintln(out, auth.GenerateAPIKey())
	return err
}
