package helen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state"
)

// The helen commands, one file each (cmd_*.go): the command with its
// flags, whose Action reads them, and a run function that does the work.
// Every command but serve works through helen's API (api.go): on the
// admin socket when helen runs, or served in process over the data
// directory when it does not (offline.go).

// Command returns `equus helen` and its subcommands.
func Command(version string) *cli.Command {
	return &cli.Command{
		Name:  "helen",
		Usage: "the Equus server: agents connect to it, it runs their checks and keeps the results",
		Subcommands: []*cli.Command{
			serveCommand(version),
			tokenCommand(),
			issueCommand(),
			agentsCommand(),
			revokeCommand(),
			forgetCommand(),
			runCommand(),
			historyCommand(),
			scheduleCommand(),
			statusCommand(),
			eventsCommand(),
			reloadCommand(),
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
// directory that is no helen's is a usage error, online or offline.
func (e env) withHelen(offline bool, f func(*adminClient) error) error {
	a, notRunning := dialAdmin(e.dataDir)
	if notRunning == nil {
		defer a.close()
		return f(a)
	}
	if !errors.Is(notRunning, errNotRunning) {
		return notRunning
	}
	if err := checkDataDir(e.dataDir); errors.Is(err, errNotHelenDir) {
		return e.usagef("%v", err)
	} else if err != nil {
		return err
	}
	if !offline {
		return notRunning
	}
	db, err := openOffline(e.dataDir, e.dbCheckTimeout)
	if err != nil {
		return err
	}
	defer db.Close()
	if msg, level, args := checkLine(db); level > slog.LevelInfo {
		line := "equus: " + msg
		for i := 0; i+1 < len(args); i += 2 {
			line += fmt.Sprintf(" %v=%v", args[i], args[i+1])
		}
		fmt.Fprintln(e.errOut, line)
	}
	b, err := newOfflineBackend(db, e.dataDir, e.checksDir, notRunning)
	if err != nil {
		return err
	}
	return f(inProcess(newAPI(db, b, 0)))
}

// openOffline opens helen's database for a command run while no helen is
// running, its check bounded by checkTimeout (0: the default). It never
// makes one: only helen serve does.
func openOffline(dataDir string, checkTimeout time.Duration) (*state.DB, error) {
	return openStore(dataDir, state.Options{CheckTimeout: checkTimeout, Existing: true})
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
