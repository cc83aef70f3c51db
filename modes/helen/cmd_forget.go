package helen

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/urfave/cli/v2"
)

func forgetCommand() *cli.Command {
	return &cli.Command{
		Name: "forget",
		Usage: "forget an agent that is revoked or not connected: its statuses and its agent line go (its history stays until pruned); " +
			"a revocation stays, and an agent not revoked that connects again comes back",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{dataFlag(), dbCheckFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("usage: equus helen forget NAME", 2)
			}
			return runForget(c.Context, envOf(c), c.Args().First())
		},
	}
}

// runForget forgets agent name.
func runForget(ctx context.Context, e env, name string) error {
	return query(ctx, e, askAgent[map[string]string](http.MethodDelete, name, "", nil), func(w io.Writer, _ map[string]string) error {
		_, err := fmt.Fprintf(w, "forgot %s (its history is kept until pruned)\n", name)
		return err
	})
}
