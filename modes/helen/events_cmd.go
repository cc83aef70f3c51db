package helen

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state"
)

// How many events helen events prints: by default, and at most.
const (
	defaultEventsLimit = 1000
	maxEventsLimit     = 100000
)

func eventsCommand() *cli.Command {
	return &cli.Command{
		Name:  "events",
		Usage: "print the changes of status and the agents down and up, oldest first",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.DurationFlag{Name: "since", Value: 24 * time.Hour, Usage: "the events of the last `DURATION`", EnvVars: []string{"HELEN_EVENTS_SINCE"}},
			&cli.IntFlag{Name: "limit", Value: defaultEventsLimit, Usage: "at most the newest `N` events", EnvVars: []string{"HELEN_EVENTS_LIMIT"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			since := time.Now().Add(-c.Duration("since"))
			limit := c.Int("limit")
			if limit < 1 || limit > maxEventsLimit {
				return setup.Usagef(c, "--limit %d: want 1 to %d", limit, maxEventsLimit)
			}
			var evs []state.Event
			err := withHelen(c, true, func(a *adminClient) error {
				q := url.Values{"since": {since.Format(time.RFC3339Nano)}}
				pages, err := listPages[state.Event](c.Context, a, "/v1/events?"+q.Encode(), limit)
				// Pages go back in time, each oldest first: the newest
				// limit of them, oldest first, is the end of the pages
				// taken last first.
				slices.Reverse(pages)
				evs = slices.Concat(pages...)
				evs = evs[max(0, len(evs)-limit):]
				return err
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if evs == nil {
					evs = []state.Event{}
				}
				return printJSON(c.App.Writer, evs)
			}
			for _, ev := range evs {
				fmt.Fprintln(c.App.Writer, eventLine(ev))
			}
			return nil
		},
	}
}

// eventLine is an event as a line for people:
//
//	2025-06-01 12:00:00  web-1  load (load)  OK -> CRITICAL  load 9.10, 8.00, 7.20
//	2025-06-01 12:01:00  web-1  agent UP -> DOWN  agent down: no connection for 1m0s
func eventLine(ev state.Event) string {
	what := "agent"
	if ev.Schedule != "" {
		what = ev.Schedule
		if ev.Check != "" && ev.Check != ev.Schedule {
			what += " (" + ev.Check + ")"
		}
	}
	from := strings.ToUpper(ev.From)
	if from == "" {
		from = "NEW"
	}
	return fmt.Sprintf("%s  %s  %s  %s -> %s  %s", ev.Time.Local().Format(time.DateTime), tty.Line(ev.Agent), tty.Line(what),
		from, strings.ToUpper(ev.To), oneLine(ev.Message))
}
