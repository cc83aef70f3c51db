package helen

import (
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
		Action: func(c *cli.Context) error {
			unfold := c.Bool("all")
			var views []monitor.StatusView
			err := withHelen(c, true, func(a *adminClient) error {
				path := "/v1/status"
				if unfold {
					path += "?all=true"
				}
				pages, err := listPages[monitor.StatusView](c.Context, a, path, 0)
				views = firstOf(pages, 0)
				return err
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if views == nil {
					views = []monitor.StatusView{}
				}
				return printJSON(c.App.Writer, views)
			}
			return printStatuses(c.App.Writer, views)
		},
	}
}

// printStatuses prints a table of statuses for people: an agent down is
// a line of its own, AGENT DOWN in the schedule's column, and the lines
// of its schedules, when unfolded, say what each said last.
func printStatuses(w io.Writer, views []monitor.StatusView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tAGENT\tSCHEDULE\tCHECK\tSINCE\tLAST\tMESSAGE")
	for _, v := range views {
		status, schedule, check, msg := strings.ToUpper(v.Status.Status), tty.Line(v.Schedule), tty.Line(v.Check), oneLine(v.Message)
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
