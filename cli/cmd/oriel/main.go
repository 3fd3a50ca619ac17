// Command oriel is Oriel's command-line tool: `oriel dev` runs the whole stack locally, and
// the client commands manage resources through the REST edge.
package main

import (
	"os"

	"github.com/oriel-dev/oriel/cli/internal/commands"
)

// cli is the command tree: the local stack first, then the client commands.
type cli struct {
	Dev devCmd `cmd:"" help:"Run the whole stack in one process on embedded defaults."`

	commands.Commands `embed:""`
}

func main() {
	os.Exit(commands.Main(&cli{}, os.Args[1:], os.Stdout, os.Stderr))
}
