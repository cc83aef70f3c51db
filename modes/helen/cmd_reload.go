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
		Action:    func(c *cli.Context) error { return runReload(c.Context, envOf(c), c.Args().First()) },
	}
}

// reloadTimeout bounds helen reload: helen answers once the agent has
// been sent reload.
const reloadTimeout = 30 * time.Second

// runReload tells the connected agent name to reload. It needs a running
// helen.
func runReload(ctx context.Context, e env, name string) error {
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	err := e.withHelen(false, func(a *adminClient) error {
		_, err := askAgent[map[string]string](http.MethodPost, name, "/reload", nil)(ctx, a)
		return err
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.out, "reload sent to %s\n", name)
	return err
}
