package helen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/setup"
)

// The helen commands, one file each (cmd_*.go): the command with its
// flags, whose Action reads them, and a run function that does the work.
// Every command but serve works through helen's API (api.go): on the
// admin socket when helen runs, or served in process over the data
// directory when it does not (offline.go).

// DevFunc runs `helen serve --dev` with the configuration serve made of
// its flags (modes/dev.Run: it is given, not imported, so that helen does
// not import the agent).
type DevFunc func(ctx context.Context, c *cli.Context, cfg server.Config) error

// Command returns `equus helen` and its subcommands; dev runs --dev.
func Command(version string, dev DevFunc) *cli.Command {
	return &cli.Command{
		Name:  "helen",
		Usage: "the Equus server: agents connect to it, it runs their checks and keeps the results",
		Subcommands: []*cli.Command{
			serveCommand(version, dev),
			tokenCommand(),
			issueCommand(),
			agentsCommand(),
			revokeCommand(),
			forgetCommand(),
			runCommand(),
			shellCommand(),
			execCommand(),
			sessionsCommand(),
			historyCommand(),
			scheduleCommand(),
			statusCommand(),
			eventsCommand(),
			reloadCommand(),
			silenceCommand(),
			ackCommand(),
			unackCommand(),
			notifyCommand(),
			notificationsCommand(),
			userCommand(),
			migrateCommand(),
		},
	}
}

func dataFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "data",
		Usage:   "helen's data `DIR` (database, CA, admin socket)",
		Value:   setup.DataDir("helen"),
		EnvVars: []string{"HELEN_DATA"},
	}
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON instead of lines for people", EnvVars: []string{"HELEN_JSON"}}
}

// env is what an admin command takes from its command line beside its
// own flags: which helen, and how and where to print.
type env struct {
	dataDir        string        // --data
	dbCheckTimeout time.Duration // --db-check-timeout, for the store opened offline
	checksDir      string        // --checks of schedule add: the check bundle of a helen not running
	json           bool          // --json
	out, errOut    io.Writer
	// usagef makes a usage error of the command.
	usagef func(format string, args ...any) error
}

// envOf reads the env of the command of c.
func envOf(c *cli.Context) env {
	return env{
		dataDir: c.String("data"), dbCheckTimeout: c.Duration("db-check-timeout"), checksDir: c.String("checks"),
		json: c.Bool("json"), out: c.App.Writer, errOut: c.App.ErrWriter,
		usagef: func(format string, args ...any) error { return setup.Usagef(c, format, args...) },
	}
}

// withHelen calls f with a client of the API of the helen of e.dataDir:
// its admin socket when it runs. When none runs and offline is true (the
// command can work without one), the API is served in this process over
// the data directory, opened here: the command sends the same requests
// and gets the same answers from the same handler either way. A
// directory that is no helen's is a usage error, online or offline; one
// of a helen of a shared store, whose state is not there, is not opened.
func (e env) withHelen(offline bool, f func(*adminClient) error) error {
	a, notRunning := dialAdmin(e.dataDir)
	if notRunning == nil {
		defer a.close()
		return f(a)
	}
	if !errors.Is(notRunning, errNotRunning) {
		return notRunning
	}
	if err := server.CheckDataDir(e.dataDir); errors.Is(err, server.ErrNotHelenDir) {
		return e.usagef("%v", err)
	} else if errors.Is(err, server.ErrSharedStore) {
		return fmt.Errorf("%w: %w", notRunning, err)
	} else if err != nil {
		return err
	}
	if !offline {
		return notRunning
	}
	off, err := server.OpenOffline(e.dataDir, e.dbCheckTimeout, e.checksDir, notRunning)
	if err != nil {
		return err
	}
	defer off.Close()
	if w := off.Warning(); w != "" {
		fmt.Fprintln(e.errOut, "equus: "+w)
	}
	return f(inProcess(off.Handler()))
}

// query asks helen what get asks, online or offline, and prints the
// answer: as JSON with --json, else with human. It is what every command
// that prints an answer does.
func query[T any](ctx context.Context, e env, get request[T], human func(io.Writer, T) error) error {
	var v T
	err := e.withHelen(true, func(a *adminClient) error {
		var err error
		v, err = get(ctx, a)
		return err
	})
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, v)
	}
	return human(e.out, v)
}

// A request asks helen for a T.
type request[T any] func(context.Context, *adminClient) (T, error)

// ask is the request of method on path with the body in (nil for none).
func ask[T any](method, path string, in any) request[T] {
	return func(ctx context.Context, a *adminClient) (T, error) {
		var v T
		err := a.do(ctx, method, path, in, &v)
		return v, err
	}
}

// askAgent is ask on the path of an agent's action (agentPath).
func askAgent[T any](method, name, action string, in any) request[T] {
	return func(ctx context.Context, a *adminClient) (T, error) {
		path, err := agentPath(name, action)
		if err != nil {
			var zero T
			return zero, err
		}
		return ask[T](method, path, in)(ctx, a)
	}
}

// askList is the request of the first want items of a list (every item,
// when want <= 0), page after page.
func askList[T any](path string, want int) request[[]T] {
	return func(ctx context.Context, a *adminClient) ([]T, error) {
		pages, err := listPages[T](ctx, a, path, want)
		return firstOf(pages, want), err
	}
}

func dbCheckFlag() cli.Flag {
	return &cli.DurationFlag{
		Name:    "db-check-timeout",
		Value:   server.DefaultDBCheckTimeout,
		Usage:   "check the database's consistency at start for at most `DURATION` (out of time: not finished, a warning; negative: no check)",
		EnvVars: []string{"HELEN_DB_CHECK_TIMEOUT"},
	}
}
