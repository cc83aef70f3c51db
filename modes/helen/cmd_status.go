package helen

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/helen/monitor"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "print the status of every schedule on every agent, worst first; an agent down is one line",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(), jsonFlag(),
			&cli.BoolFlag{Name: "all", Usage: "list the schedules of each agent down under its line, each with what it said last",
				EnvVars: []string{"HELEN_STATUS_ALL"}},
		},
		Action: func(c *cli.Context) error { return runStatus(c.Context, envOf(c), c.Bool("all")) },
	}
}

// runStatus prints the status list, the schedules of the agents down
// under their line when unfold.
func runStatus(ctx context.Context, e env, unfold bool) error {
	path := "/v1/status"
	if unfold {
		path += "?all=true"
	}
	return query(ctx, e, askList[monitor.StatusView](path, 0), printStatuses)
}

// printStatuses prints a table of statuses for people: an agent down is
// a line of its own, AGENT DOWN in the schedule's column, and the lines
// of its schedules, when unfolded, say what each said last.
func printStatuses(w io.Writer, views []monitor.StatusView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tAGENT\tSCHEDULE\tCHECK\tSINCE\tLAST\tMESSAGE")
	for _, v := range views {
		status, schedule, check, msg := strings.ToUpper(v.Status.Status), tty.Line(v.Schedule), tty.Line(v.Check), oneLine(v.Message)
		if v.Kind == monitor.KindSchedule {
			status += confirmed(v.StateType, v.Attempt, v.MaxAttempts, v.Flapping, "")
		}
		switch v.Kind {
		case monitor.KindAgentDown:
			schedule, check = "(agent down)", "-"
		case monitor.KindFolded:
			schedule = "  " + schedule
			msg = oneLine("was " + v.Previous + "; " + v.Message)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", status, tty.Line(v.Agent), schedule, check, since(v.Since), since(v.Time), msg)
	}
	return tw.Flush()
}
