package helen

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/equus-monitoring/equus/modes/helen/web"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
)

func agentsCommand() *cli.Command {
	return &cli.Command{
		Name:   "agents",
		Usage:  "list the agents helen knows",
		Flags:  []cli.Flag{dataFlag(), dbCheckFlag(), jsonFlag()},
		Action: func(c *cli.Context) error { return runAgents(c.Context, envOf(c)) },
	}
}

// runAgents prints the agents.
func runAgents(ctx context.Context, e env) error {
	return query(ctx, e, askList[web.AgentView]("/v1/agents", 0), printAgents)
}

func printAgents(w io.Writer, views []web.AgentView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tVERSION\tADDRESS\tLAST SEEN")
	for _, v := range views {
		st := "down"
		switch {
		case v.Revoked:
			st = "revoked"
		case v.Connected:
			st = "up"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", tty.Line(v.Name), st, dash(v.Version), dash(v.Addr), since(v.LastSeen))
	}
	return tw.Flush()
}
