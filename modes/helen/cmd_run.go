package helen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/web"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/result"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a check on an agent now; exit with its Nagios code",
		ArgsUsage: "AGENT CHECK [ARGS_JSON]",
		// Its exit status is the result's Nagios code, so a usage error
		// is unknown, 3.
		OnUsageError: setup.NagiosOnUsageError,
		Flags: []cli.Flag{
			dataFlag(),
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "how long to wait for the result", EnvVars: []string{"HELEN_RUN_TIMEOUT"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			req := web.RunRequest{Check: c.Args().Get(1), Timeout: web.Duration(c.Duration("timeout"))}
			if a := c.Args().Get(2); a != "" {
				if !json.Valid([]byte(a)) {
					return setup.Usagef(c, "ARGS_JSON is not valid JSON")
				}
				req.Args = json.RawMessage(a)
			}
			return runRun(c.Context, envOf(c), c.Args().Get(0), req)
		},
	}
}

// runRun runs a check on agent now, which needs a running helen, and
// prints its result. It exits with the result's Nagios code: a failure to
// run it is a result of status unknown.
func runRun(ctx context.Context, e env, agent string, req web.RunRequest) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(req.Timeout)+10*time.Second)
	defer cancel()
	var doc result.Doc
	err := e.withHelen(false, func(a *adminClient) error {
		var err error
		doc, err = askAgent[result.Doc](http.MethodPost, agent, "/run", req)(ctx, a)
		return err
	})
	if err != nil {
		doc = result.Unknownf("%v", err)
	}
	if e.json {
		printJSON(e.out, doc)
	} else {
		// As a Nagios plugin prints it: the line, then the long output,
		// so that helen run can serve as a plugin itself; what could
		// steer the terminal is escaped.
		fmt.Fprintln(e.out, tty.Text(doc.Text()))
	}
	return cli.Exit("", doc.Status.Code())
}
