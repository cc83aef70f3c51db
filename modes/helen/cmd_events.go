package helen

import (
	"context"
	"fmt"
	"io"
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
			limit := c.Int("limit")
			if limit < 1 || limit > maxEventsLimit {
				return setup.Usagef(c, "--limit %d: want 1 to %d", limit, maxEventsLimit)
			}
			return runEvents(c.Context, envOf(c), time.Now().Add(-c.Duration("since")), limit)
		},
	}
}

// runEvents prints the newest limit events since then, oldest first.
func runEvents(ctx context.Context, e env, since time.Time, limit int) error {
	q := url.Values{"since": {since.Format(time.RFC3339Nano)}}
	return query(ctx, e, newestEvents("/v1/events?"+q.Encode(), limit), func(w io.Writer, evs []state.Event) error {
		for _, ev := range evs {
			if _, err := fmt.Fprintln(w, EventLine(ev)); err != nil {
				return err
			}
		}
		return nil
	})
}

// newestEvents is the request of the newest limit events of path, oldest
// first. Its pages go back in time, each oldest first: the newest limit
// of them, oldest first, is the end of the pages taken last first.
func newestEvents(path string, limit int) request[[]state.Event] {
	return func(ctx context.Context, a *adminClient) ([]state.Event, error) {
		pages, err := listPages[state.Event](ctx, a, path, limit)
		slices.Reverse(pages)
		evs := firstOf(pages, 0)
		return evs[max(0, len(evs)-limit):], err
	}
}

// EventLine is an event as a line for people:
//
//	2025-06-01 12:00:00  web-1  load (load)  OK -> CRITICAL  load 9.10, 8.00, 7.20
//	2025-06-01 12:01:00  web-1  agent UP -> DOWN  agent down: no connection for 1m0s
func EventLine(ev state.Event) string {
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
	return fmt.Sprintf("%s  %s  %s  %s -> %s%s  %s", ev.Time.Local().Format(time.DateTime), tty.Line(ev.Agent), tty.Line(what),
		from, strings.ToUpper(ev.To), confirmed(ev.StateType, ev.Attempt, ev.MaxAttempts, ev.Flapping, ev.Flap), oneLine(ev.Message))
}

// confirmed says, for a schedule that takes more than one result to
// confirm a problem, whether its status is soft or hard and at which
// attempt (" (soft 1/3)"), and whether it flaps, or has just begun or
// stopped to.
func confirmed(stateType string, attempt, attempts int, flapping bool, flap string) string {
	out := ""
	if attempts > 1 {
		out = fmt.Sprintf(" (%s %d/%d)", stateType, attempt, attempts)
	}
	switch {
	case flap != "":
		out += " flapping " + flap
	case flapping:
		out += " flapping"
	}
	return out
}
