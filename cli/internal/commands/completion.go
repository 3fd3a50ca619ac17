package commands

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"
)

// Shell completion works the way of bash's `complete -C`: the shell runs `oriel` itself
// with the command line in COMP_LINE (and the cursor in COMP_POINT), and `oriel` prints
// the words that may come next, one a line. So the grammar that parses is the grammar
// that completes, and a new command or flag completes with no script to regenerate.

// completionScripts hook `oriel` into each shell.
var completionScripts = map[string]string{
	"bash": `# oriel completion for bash. Load it in this shell with
#   source <(oriel completion bash)
# and in every new one by adding that line to ~/.bashrc.
complete -o default -C oriel oriel
`,
	"zsh": `# oriel completion for zsh. Load it in this shell with
#   source <(oriel completion zsh)
# and in every new one by adding that line to ~/.zshrc, after compinit.
autoload -U +X bashcompinit && bashcompinit
complete -C oriel oriel
`,
	"fish": `# oriel completion for fish. Load it in this shell with
#   oriel completion fish | source
# and in every new one with
#   oriel completion fish > ~/.config/fish/completions/oriel.fish
function __complete_oriel
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    oriel
end
complete -f -c oriel -a "(__complete_oriel)"
`,
}

// CompletionCmd is `oriel completion`.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

// Run prints the shell's script.
func (c *CompletionCmd) Run(kctx *kong.Context) error {
	_, err := fmt.Fprint(kctx.Stdout, completionScripts[c.Shell])
	return err
}

// contextPredictor completes the names of the stored contexts (--context, context use).
var contextPredictor = complete.PredictFunc(func(complete.Args) []string { return contextNames() })

// completeCommandLine answers a shell's completion request, if this run is one (COMP_LINE
// is set): it prints the completions to the parser's stdout and exits through the
// parser's Exit, which MainWithInput turns into a return. Any other run returns at once.
func completeCommandLine(parser *kong.Kong) {
	if os.Getenv("COMP_LINE") == "" {
		return
	}
	kongplete.Complete(parser, kongplete.WithPredictor("context", contextPredictor))
}
