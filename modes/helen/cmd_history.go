package helen

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/state"
)

// defaultHistoryLimit is how many results helen history prints unless
// told.
const defaultHistoryLimit = 20

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "print an agent's results, newest first: of every check, or those whose schedule or check is NAME",
		ArgsUsage: "AGENT [NAME]",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.IntFlag{Name: "limit", Value: defaultHistoryLimit, Usage: "at most `N` results", EnvVars: []string{"HELEN_HISTORY_LIMIT"}},
			&cli.BoolFlag{Name: "long", Aliases: []string{"l"}, Usage: "print the long output of each result under its message", EnvVars: []string{"HELEN_HISTORY_LONG"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			limit := c.Int("limit")
			if limit <= 0 {
				limit = defaultHistoryLimit
			}
			return runHistory(c.Context, envOf(c), c.Args().Get(0), c.Args().Get(1), limit, c.Bool("long"))
		},
	}
}

// runHistory prints the newest limit results of agent whose schedule or
// check is name ("" for all), with their long output when long.
func runHistory(ctx context.Context, e env, agent, name string, limit int, long bool) error {
	q := url.Values{"agent": {agent}}
	if name != "" {
		q.Set("name", name)
	}
	return query(ctx, e, askList[state.Result]("/v1/history?"+q.Encode(), limit), func(w io.Writer, rs []state.Result) error {
		return printHistory(w, rs, long)
	})
}

func printHistory(w io.Writer, rs []state.Result, long bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCHECK\tSCHEDULE\tSTATUS\tMESSAGE")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\n", r.Time.Local().Format("2006-01-02 15:04:05"), tty.Line(r.Check), dash(r.Schedule),
			strings.ToUpper(r.Status), oneLine(r.Message), longNote(r.LongOutput, long))
		if long {
			writeLong(tw, r.LongOutput)
		}
	}
	return tw.Flush()
}
