package helen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"path"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state"
)

func silenceCommand() *cli.Command {
	return &cli.Command{
		Name:  "silence",
		Usage: "mute the notifications of problems for a while: add, list, rm",
		Subcommands: []*cli.Command{
			silenceAddCommand(),
			silenceListCommand(),
			silenceRmCommand(),
		},
	}
}

func silenceAddCommand() *cli.Command {
	return &cli.Command{
		Name:  "add",
		Usage: "silence the problems of agents (and schedules) matching globs, for a while or until a time; prints its id",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.StringFlag{Name: "agents", Usage: "silence the agents whose names match `GLOB`", Required: true, EnvVars: []string{"HELEN_SILENCE_AGENTS"}},
			&cli.StringFlag{Name: "schedules", Usage: "only the schedules whose names match `GLOB`", DefaultText: "every schedule", EnvVars: []string{"HELEN_SILENCE_SCHEDULES"}},
			&cli.DurationFlag{Name: "for", Usage: "silence for `DURATION` from now (this or --until)", EnvVars: []string{"HELEN_SILENCE_FOR"}},
			&cli.StringFlag{Name: "until", Usage: "silence until `TIME`: RFC 3339, or local \"2006-01-02 15:04\" (this or --for)", EnvVars: []string{"HELEN_SILENCE_UNTIL"}},
			&cli.StringFlag{Name: "comment", Usage: "why, for the others: `TEXT`", Required: true, EnvVars: []string{"HELEN_SILENCE_COMMENT"}},
			&cli.BoolFlag{Name: "expire-on-resolve", Usage: "end the silence when the problem it silences recovers", EnvVars: []string{"HELEN_SILENCE_EXPIRE_ON_RESOLVE"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			now := time.Now()
			req := web.SilenceRequest{Agents: c.String("agents"), Schedules: c.String("schedules"), Comment: c.String("comment"),
				Author: osUser(), ExpireOnResolve: c.Bool("expire-on-resolve"), Start: now}
			for _, g := range []string{"agents", "schedules"} {
				if _, err := path.Match(c.String(g), ""); err != nil {
					return setup.Usagef(c, "--%s %q: not a glob: %v", g, c.String(g), err)
				}
			}
			switch {
			case c.IsSet("for") && c.IsSet("until"):
				return setup.Usagef(c, "give --for or --until, not both")
			case c.IsSet("for"):
				if c.Duration("for") <= 0 {
					return setup.Usagef(c, "--for %v: want a positive duration", c.Duration("for"))
				}
				req.End = now.Add(c.Duration("for"))
			case c.IsSet("until"):
				t, err := parseUntil(c.String("until"))
				if err != nil {
					return setup.Usagef(c, "--until: %v", err)
				}
				if !t.After(now) {
					return setup.Usagef(c, "--until %s: in the past", c.String("until"))
				}
				req.End = t
			default:
				return setup.Usagef(c, "give --for DURATION or --until TIME")
			}
			if req.Comment == "" {
				return setup.Usagef(c, "--comment: say why")
			}
			return runSilenceAdd(c.Context, envOf(c), req)
		},
	}
}

// parseUntil reads an RFC 3339 time, or a local date and time to the
// minute or the second.
func parseUntil(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", time.DateTime} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time or \"2006-01-02 15:04\"", s)
}

// osUser is the name of the user running the command: the author of the
// silences and acknowledgements it makes.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// runSilenceAdd adds the silence req and prints its id.
func runSilenceAdd(ctx context.Context, e env, req web.SilenceRequest) error {
	return query(ctx, e, ask[state.Silence](http.MethodPost, "/v1/silences", req), func(w io.Writer, s state.Silence) error {
		_, err := fmt.Fprintln(w, s.ID)
		return err
	})
}

func silenceListCommand() *cli.Command {
	return &cli.Command{
		Name:    "list",
		Aliases: []string{"ls"},
		Usage:   "list the silences, those ended in the last 7 days too",
		Flags:   []cli.Flag{dataFlag(), dbCheckFlag(), jsonFlag()},
		Action:  func(c *cli.Context) error { return runSilenceList(c.Context, envOf(c)) },
	}
}

// runSilenceList prints the silences, by start.
func runSilenceList(ctx context.Context, e env) error {
	return query(ctx, e, askList[state.Silence]("/v1/silences", 0), printSilences)
}

func printSilences(w io.Writer, ss []state.Silence) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGENTS\tSCHEDULES\tSTART\tEND\tAUTHOR\tCOMMENT")
	for _, s := range ss {
		sch, end := s.Schedules, s.End.Local().Format(time.DateTime)
		if sch == "" {
			sch = "*"
		}
		if s.ExpireOnResolve {
			end += " or on recovery"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, tty.Line(s.Agents), tty.Line(sch), s.Start.Local().Format(time.DateTime), end,
			tty.Line(s.Author), oneLine(s.Comment))
	}
	return tw.Flush()
}

func silenceRmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove a silence: its problems notify again",
		ArgsUsage: "ID",
		Flags:     []cli.Flag{dataFlag(), dbCheckFlag()},
		Action:    func(c *cli.Context) error { return runSilenceRm(c.Context, envOf(c), c.Args().First()) },
	}
}

// runSilenceRm removes the silence id.
func runSilenceRm(ctx context.Context, e env, id string) error {
	return query(ctx, e, ask[map[string]string](http.MethodDelete, "/v1/silences/"+pathSegment(id), nil), func(w io.Writer, _ map[string]string) error {
		_, err := fmt.Fprintf(w, "removed silence %s\n", id)
		return err
	})
}
