package helen

import (
	"context"
	"fmt"

	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/helen/recording"
	"github.com/equus-monitoring/equus/modes/helen/server"
)

// The recordings are read where helen writes them, in its data
// directory, whether it runs or not.

func sessionsCommand() *cli.Command {
	return &cli.Command{
		Name:   "sessions",
		Usage:  "list the recorded shell sessions, newest first",
		Flags:  []cli.Flag{dataFlag(), jsonFlag()},
		Action: func(c *cli.Context) error { return runSessions(envOf(c)) },
		Subcommands: []*cli.Command{{
			Name:      "play",
			Usage:     "replay a recorded session in the terminal (its output, in its time; pauses over 2s are cut to 2s)",
			ArgsUsage: "ID",
			Flags: []cli.Flag{dataFlag(),
				&cli.Float64Flag{Name: "speed", Value: 1, Usage: "replay `X` times as fast", EnvVars: []string{"HELEN_PLAY_SPEED"}}},
			Action: func(c *cli.Context) error {
				e := envOf(c)
				if err := recording.CheckID(c.Args().First()); err != nil {
					return e.usagef("%v (helen sessions lists them)", err)
				}
				if c.Float64("speed") <= 0 {
					return e.usagef("--speed must be positive, not %v", c.Float64("speed"))
				}
				return runPlay(c.Context, e, c.Args().First(), c.Float64("speed"))
			},
		}},
	}
}

func recordings(e env) (*recording.Dir, error) {
	return recording.OpenExisting(filepath.Join(e.dataDir, server.SessionsDir))
}

func runSessions(e env) error {
	d, err := recordings(e)
	if err != nil {
		return err
	}
	sums, err := d.List()
	if err != nil {
		return err
	}
	if e.json {
		if sums == nil {
			sums = []recording.Summary{}
		}
		return printJSON(e.out, sums)
	}
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWHO\tAGENT\tUSER\tCOMMAND\tSTART\tDURATION\tEND")
	for _, s := range sums {
		cmd := strings.Join(s.Command, " ")
		if cmd == "" {
			cmd = "(login shell)"
		}
		dur := "running"
		if !s.End.IsZero() {
			dur = (time.Duration(s.Duration * float64(time.Second))).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, tty.Line(s.Who), tty.Line(s.Agent), dash(tty.Line(s.User)),
			tty.Short(tty.Line(cmd), 40), s.Start.Local().Format(time.DateTime), dur, tty.Short(tty.Line(endOf(s)), 60))
	}
	return tw.Flush()
}

// endOf says how a recorded session ended.
func endOf(s recording.Summary) string {
	switch {
	case s.Signal != "":
		return "SIG" + s.Signal
	case s.Status != nil:
		return fmt.Sprintf("exit %d", *s.Status)
	case s.Error != "":
		return s.Error
	case s.End.IsZero():
		return "-"
	}
	return "ended"
}

func runPlay(ctx context.Context, e env, id string, speed float64) error {
	d, err := recordings(e)
	if err != nil {
		return err
	}
	f, err := d.OpenCast(id)
	if err != nil {
		return err
	}
	defer f.Close()
	return recording.Play(ctx, e.out, f, speed, sleepCtx)
}

// sleepCtx waits d, or less when ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
