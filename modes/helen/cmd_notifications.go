package helen

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state"
)

// How many notifications helen notifications prints, at most.
const maxNotificationsListed = 1000

func notificationsCommand() *cli.Command {
	return &cli.Command{
		Name:  "notifications",
		Usage: fmt.Sprintf("print the deliveries of notifications, oldest first (the newest %d at most): pending, retrying, delivered, expired", maxNotificationsListed),
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.DurationFlag{Name: "since", Value: 24 * time.Hour, Usage: "the notifications made in the last `DURATION`", EnvVars: []string{"HELEN_NOTIFICATIONS_SINCE"}},
			&cli.StringFlag{Name: "state", Usage: "only those in `STATE`: pending, retrying, delivered or expired", DefaultText: "every state", EnvVars: []string{"HELEN_NOTIFICATIONS_STATE"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			st := state.NotificationState(c.String("state"))
			if !slices.Contains([]state.NotificationState{"", state.NotifyPending, state.NotifyRetrying, state.NotifyDelivered, state.NotifyExpired}, st) {
				return setup.Usagef(c, "--state %q: want pending, retrying, delivered or expired", st)
			}
			return runNotifications(c.Context, envOf(c), time.Now().Add(-c.Duration("since")), st)
		},
	}
}

// runNotifications prints the newest notifications made since then, in
// state st (any, for ""), oldest first.
func runNotifications(ctx context.Context, e env, since time.Time, st state.NotificationState) error {
	q := url.Values{"since": {since.Format(time.RFC3339Nano)}}
	if st != "" {
		q.Set("state", string(st))
	}
	return query(ctx, e, newestOf[state.Notification]("/v1/notifications?"+q.Encode(), maxNotificationsListed), func(w io.Writer, ns []state.Notification) error {
		for _, n := range ns {
			if _, err := fmt.Fprintln(w, NotificationLine(n)); err != nil {
				return err
			}
		}
		return nil
	})
}

// newestOf is the request of the newest limit items of a list whose pages
// go back in time, each oldest first (newestEvents), oldest first.
func newestOf[T any](path string, limit int) request[[]T] {
	return func(ctx context.Context, a *adminClient) ([]T, error) {
		pages, err := listPages[T](ctx, a, path, limit)
		slices.Reverse(pages)
		items := firstOf(pages, 0)
		return items[max(0, len(items)-limit):], err
	}
}

// NotificationLine is a delivery as a line for people:
//
//	2025-06-01 12:00:00  web-1  disk-root  ops#0  retrying  3 attempts  503 Service Unavailable
func NotificationLine(n state.Notification) string {
	what := n.Schedule
	if what == "" {
		what = "agent"
	}
	line := fmt.Sprintf("%s  %s  %s  %s#%d  %s  %d attempts", n.Created.Local().Format(time.DateTime), tty.Line(n.Agent), tty.Line(what),
		tty.Line(n.Route), n.Receiver, n.State, n.AttemptCount)
	if n.State.Open() {
		line += "  next " + n.NextAt.Local().Format(time.DateTime)
	}
	if e := n.LastError(); e != "" {
		line += "  " + oneLine(e)
	}
	return line
}
