package helen

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/state"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "print the status of every schedule on every agent, worst first",
		Flags: []cli.Flag{dataFlag(), dbCheckFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			var views []StatusView
			err := withHelen(c, func(a *adminClient) error {
				pages, err := listPages[StatusView](c.Context, a, "/v1/status", 0)
				views = firstOf(pages, 0)
				return err
			}, func(db *state.DB) error {
				var err error
				views, err = statuses(db)
				return err
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if views == nil {
					views = []StatusView{}
				}
				return printJSON(c.App.Writer, views)
			}
			return printStatuses(c.App.Writer, views)
		},
	}
}

// printStatuses prints a table of statuses for people.
func printStatuses(w io.Writer, views []StatusView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tAGENT\tSCHEDULE\tCHECK\tSINCE\tLAST\tMESSAGE")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(v.Status.Status), tty.Line(v.Agent), tty.Line(v.Schedule), tty.Line(v.Check),
			since(v.Since), since(v.Time), oneLine(v.Message))
	}
	return tw.Flush()
}
