package helen

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/urfave/cli/v2"
)

func revokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "revoke an agent: close its connection and refuse it from now on",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{dataFlag(), dbCheckFlag()},
		Action:    func(c *cli.Context) error { return runRevoke(c.Context, envOf(c), c.Args().First()) },
	}
}

// runRevoke revokes agent name.
func runRevoke(ctx context.Context, e env, name string) error {
	return query(ctx, e, askAgent[map[string]string](http.MethodPost, name, "/revoke", nil), func(w io.Writer, _ map[string]string) error {
		_, err := fmt.Fprintf(w, "revoked %s\n", name)
		return err
	})
}
