package helen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
	"github.com/equus-monitoring/equus/state/transfer"
)

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name: "migrate",
		Usage: "copy the state of a stopped helen, from its data directory, into an empty PostgreSQL database " +
			"that helens then share (helen serve --store URL)",
		Description: "Everything moves: agents, revocations, enrollment tokens, accounts, schedules, statuses, " +
			"events, routes, silences, acknowledgements, notifications (those pending are delivered by the helens " +
			"of the store), the history and the graphs, and the CA and the admin token, sealed with the store key. " +
			"The data directory is left as it was.",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.StringFlag{
				Name:     "to",
				Usage:    "the PostgreSQL database to copy into, as `URL` postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE; it must hold no rows",
				Required: true,
				EnvVars:  []string{"HELEN_MIGRATE_TO"},
			},
			&cli.StringFlag{Name: "store-key-file", Usage: "`FILE` holding the store key (32 bytes, hex or base64) that seals the CA's key and the admin token in --to, the one every helen of it is given (or the key itself in HELEN_STORE_KEY); one of the two is required", EnvVars: []string{"HELEN_STORE_KEY_FILE"}},
		},
		Action: func(c *cli.Context) error {
			to := c.String("to")
			if !pgstore.IsURL(to) {
				return setup.Usagef(c, "--to %s: not a postgres:// URL", pgstore.Redact(to))
			}
			e := envOf(c)
			if err := migrateSource(e); err != nil {
				return err
			}
			key, err := readStoreKey(c, "--to "+pgstore.Redact(to), c.String("store-key-file"), os.LookupEnv)
			if err != nil {
				return err
			}
			return runMigrate(c.Context, e, to, key)
		},
	}
}

// migrateSource returns why e.dataDir is no data directory to migrate:
// of a helen running, of none, or of one whose state is in PostgreSQL.
func migrateSource(e env) error {
	if a, err := dialAdmin(e.dataDir); err == nil {
		a.close()
		return fmt.Errorf("helen is running on %s: stop it first, so that its state does not change under the copy", e.dataDir)
	}
	if err := server.CheckDataDir(e.dataDir); errors.Is(err, server.ErrNotHelenDir) || errors.Is(err, server.ErrSharedStore) {
		return e.usagef("%v", err)
	} else if err != nil {
		return err
	}
	return nil
}

// runMigrate copies the state of the helen of e.dataDir, which
// migrateSource found stopped, into the PostgreSQL database at to, and
// its CA and admin token sealed with key.
func runMigrate(ctx context.Context, e env, to string, key []byte) error {
	db, err := state.Open(filepath.Join(e.dataDir, server.DBFile), state.Options{
		Existing: true, PruneInterval: -1, CheckTimeout: e.dbCheckTimeout,
	})
	if errors.Is(err, state.ErrLocked) {
		return fmt.Errorf("%w: is helen running on %s? stop it first", err, e.dataDir)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	// No pruning while the copy is under way: what lands stays as it was.
	pg, err := pgstore.Open(ctx, to, pgstore.Options{PruneInterval: -1})
	if err != nil {
		return err
	}
	defer pg.Close()
	fmt.Fprintf(e.out, "copying %s into %s\n", db.Path(), pg.Path())
	err = transfer.Copy(ctx, db, pg, func(area, what string) {
		fmt.Fprintf(e.out, "%s: %s\n", area, what)
	})
	if err != nil {
		return err
	}
	if err := server.MoveSecrets(ctx, pg, e.dataDir, key); err != nil {
		return fmt.Errorf("copy secrets: %w (%s is partly filled: make its database again before another try)", err, pg.Path())
	}
	fmt.Fprintf(e.out, "secrets: copied the CA and the admin token, sealed with the store key\n")
	_, err = fmt.Fprintf(e.out, "done: start helens with --store %s\n", pg.Path())
	return err
}
