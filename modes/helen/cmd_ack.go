package helen

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state"
)

func ackCommand() *cli.Command {
	return &cli.Command{
		Name:      "ack",
		Usage:     "acknowledge the problem of a schedule on an agent (no SCHEDULE: the agent being down): no more re-notifications of it until it recovers",
		ArgsUsage: "AGENT [SCHEDULE]",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.StringFlag{Name: "comment", Usage: "what is being done, for the others: `TEXT`", Required: true, EnvVars: []string{"HELEN_ACK_COMMENT"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.String("comment") == "" {
				return setup.Usagef(c, "--comment: say what is being done")
			}
			req := web.AckRequest{Agent: c.Args().Get(0), Schedule: c.Args().Get(1), Comment: c.String("comment"), Author: osUser()}
			return runAck(c.Context, envOf(c), req)
		},
	}
}

// runAck acknowledges a problem.
func runAck(ctx context.Context, e env, req web.AckRequest) error {
	return query(ctx, e, ask[state.Ack](http.MethodPost, "/v1/acks", req), func(w io.Writer, a state.Ack) error {
		what := "its being down"
		if a.Schedule != "" {
			what = tty.Line(a.Schedule)
		}
		_, err := fmt.Fprintf(w, "acknowledged %s on %s\n", what, tty.Line(a.Agent))
		return err
	})
}

func unackCommand() *cli.Command {
	return &cli.Command{
		Name:      "unack",
		Usage:     "remove the acknowledgement of the problem of a schedule on an agent (no SCHEDULE: of the agent being down)",
		ArgsUsage: "AGENT [SCHEDULE]",
		Flags:     []cli.Flag{dataFlag(), dbCheckFlag()},
		Action: func(c *cli.Context) error {
			return runUnack(c.Context, envOf(c), c.Args().Get(0), c.Args().Get(1))
		},
	}
}

// runUnack removes the acknowledgement of schedule on agent.
func runUnack(ctx context.Context, e env, agent, schedule string) error {
	p := "/v1/acks/" + pathSegment(agent)
	what := "its being down"
	if schedule != "" {
		p += "/" + pathSegment(schedule)
		what = tty.Line(schedule)
	}
	return query(ctx, e, ask[map[string]string](http.MethodDelete, p, nil), func(w io.Writer, _ map[string]string) error {
		_, err := fmt.Fprintf(w, "removed the acknowledgement of %s on %s\n", what, tty.Line(agent))
		return err
	})
}
