package commands

import (
	"fmt"
	"io"

	"github.com/oriel-dev/oriel/platform/auth"
)

// KeysCmd is `oriel keys`: service accounts' API keys, and the offline generator of the
// bootstrap admin key.
type KeysCmd struct {
	ClientFlags `embed:""`

	Create   KeysCreateCmd   `cmd:"" help:"Create an API key for a service account and show its secret, once."`
	List     KeysListCmd     `cmd:"" help:"List a service account's keys (never their secrets)."`
	Revoke   KeysRevokeCmd   `cmd:"" help:"Revoke a key at once (services may accept it from cache for a few more seconds)."`
	Generate KeysGenerateCmd `cmd:"" help:"Print a new random API key, e.g. for ORIEL_BOOTSTRAP_ADMIN_KEY in production (offline: no edge, no key)."`
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
