package helen

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"
)

func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:      "reload",
		Usage:     "tell a connected agent to reload: it syncs the check bundle (and, under stage0, the binary) and reconnects",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{dataFlag()},
		Action: func(c *cli.Context) error {
			name := c.Args().First()
			ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
			defer cancel()
			err := withHelen(c, false, func(a *adminClient) error {
				path, err := agentPath(name, "/reload")
				if err != nil {
					return err
				}
				var out map[string]string
				return a.do(ctx, http.MethodPost, path, nil, &out)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "reload sent to %s\n", name)
			return nil
		},
	}
}
