package helen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state"
)

func scheduleCommand() *cli.Command {
	return &cli.Command{
		Name:  "schedule",
		Usage: "run checks on agents at an interval: add, list, rm",
		Subcommands: []*cli.Command{
			scheduleAddCommand(),
			scheduleListCommand(),
			scheduleRmCommand(),
		},
	}
}

func scheduleAddCommand() *cli.Command {
	return &cli.Command{
		Name:      "add",
		Usage:     "add a schedule, or replace the one of that name; a running helen starts it at once",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.StringFlag{Name: "check", Usage: "the `CHECK` to run: built in, in the embedded library or in helen's check bundle", Required: true, EnvVars: []string{"HELEN_SCHEDULE_CHECK"}},
			&cli.StringFlag{Name: "args", Usage: "the check's arguments, a `JSON` object", EnvVars: []string{"HELEN_SCHEDULE_ARGS"}},
			&cli.DurationFlag{Name: "every", Usage: fmt.Sprintf("run it every `INTERVAL` (at least %v)", server.MinRequestEvery), Required: true, EnvVars: []string{"HELEN_SCHEDULE_EVERY"}},
			&cli.DurationFlag{Name: "timeout", Usage: "give up on a run after `DURATION`, at most the interval",
				DefaultText: fmt.Sprintf("%v, or the interval when shorter", monitor.DefaultTimeout), EnvVars: []string{"HELEN_SCHEDULE_TIMEOUT"}},
			&cli.StringFlag{Name: "agents", Value: "*", Usage: "run it on the agents whose names match `GLOB`", EnvVars: []string{"HELEN_SCHEDULE_AGENTS"}},
			&cli.IntFlag{Name: "attempts", Value: 1, Usage: fmt.Sprintf("a problem is confirmed (hard) after `N` problems in a row, 1 to %d; soft until then", state.MaxAttempts), EnvVars: []string{"HELEN_SCHEDULE_ATTEMPTS"}},
			&cli.DurationFlag{Name: "retry-every", Usage: fmt.Sprintf("while a problem is soft, run it every `DURATION` (at least %v, at most the interval)", server.MinRequestEvery),
				DefaultText: "the interval", EnvVars: []string{"HELEN_SCHEDULE_RETRY_EVERY"}},
			// Helen serve's flag, and its variable: a running helen knows
			// its bundle; without one, the command finds CHECK there.
			&cli.StringFlag{Name: "checks", Usage: "when helen is not running: its check bundle `DIR` (helen serve's --checks), to find CHECK in", EnvVars: []string{"HELEN_CHECKS"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			v := web.ScheduleView{
				Name: c.Args().First(), Check: c.String("check"),
				Every: web.Duration(c.Duration("every")), Timeout: web.Duration(c.Duration("timeout")), Agents: c.String("agents"),
				Attempts: c.Int("attempts"), RetryEvery: web.Duration(c.Duration("retry-every")),
			}
			if n := c.Int("attempts"); n < 1 || n > state.MaxAttempts {
				return setup.Usagef(c, "--attempts %d: give 1 to %d", n, state.MaxAttempts)
			}
			if a := c.String("args"); a != "" {
				if !json.Valid([]byte(a)) {
					return setup.Usagef(c, "--args is not valid JSON")
				}
				v.Args = json.RawMessage(a)
			}
			// The interval and timeout are the command line's to get
			// right, whether helen runs or not; helen checks them again.
			sch := v.Schedule()
			if err := server.CheckTiming(&sch); err != nil {
				return setup.Usagef(c, "%v", err)
			}
			return runScheduleAdd(c.Context, envOf(c), v)
		},
	}
}

// runScheduleAdd adds schedule v, or replaces the one of its name.
func runScheduleAdd(ctx context.Context, e env, v web.ScheduleView) error {
	return query(ctx, e, ask[web.ScheduleView](http.MethodPost, "/v1/schedules", v), func(w io.Writer, out web.ScheduleView) error {
		_, err := fmt.Fprintf(w, "schedule %s: %s every %s on %s%s\n", tty.Line(out.Name), tty.Line(out.Check), time.Duration(out.Every), tty.Line(out.Agents), confirmation(out))
		return err
	})
}

func scheduleListCommand() *cli.Command {
	return &cli.Command{
		Name:    "list",
		Aliases: []string{"ls"},
		Usage:   "list the schedules",
		Flags:   []cli.Flag{dataFlag(), dbCheckFlag(), jsonFlag()},
		Action:  func(c *cli.Context) error { return runScheduleList(c.Context, envOf(c)) },
	}
}

// runScheduleList prints the schedules.
func runScheduleList(ctx context.Context, e env) error {
	return query(ctx, e, askList[web.ScheduleView]("/v1/schedules", 0), printSchedules)
}

// confirmation says how a schedule confirms a problem, when it takes more
// than one result.
func confirmation(v web.ScheduleView) string {
	if v.Attempts <= 1 {
		return ""
	}
	return fmt.Sprintf(", a problem confirmed after %d in a row, retried every %s", v.Attempts, time.Duration(v.RetryEvery))
}

func printSchedules(w io.Writer, views []web.ScheduleView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCHECK\tEVERY\tTIMEOUT\tATTEMPTS\tRETRY\tAGENTS\tARGS")
	for _, v := range views {
		args := string(v.Args)
		if args == "" {
			args = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", tty.Line(v.Name), tty.Line(v.Check), time.Duration(v.Every), time.Duration(v.Timeout),
			max(v.Attempts, 1), time.Duration(v.RetryEvery), tty.Line(v.Agents), oneLine(args))
	}
	return tw.Flush()
}

func scheduleRmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove a schedule and the statuses of its runs",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{dataFlag(), dbCheckFlag()},
		Action:    func(c *cli.Context) error { return runScheduleRm(c.Context, envOf(c), c.Args().First()) },
	}
}

// runScheduleRm removes schedule name.
func runScheduleRm(ctx context.Context, e env, name string) error {
	return query(ctx, e, ask[map[string]string](http.MethodDelete, "/v1/schedules/"+pathSegment(name), nil), func(w io.Writer, _ map[string]string) error {
		_, err := fmt.Fprintf(w, "removed schedule %s\n", name)
		return err
	})
}
