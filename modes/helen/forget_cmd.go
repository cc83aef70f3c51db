package helen

import (
	"fmt"
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
			name := c.Args().First()
			err := withHelen(c, true, func(a *adminClient) error {
				path, err := agentPath(name, "")
				if err != nil {
					return err
				}
				var out map[string]string
				return a.do(c.Context, http.MethodDelete, path, nil, &out)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "forgot %s (its history is kept until pruned)\n", name)
			return nil
		},
	}
}
