package helen

import (
	"context"
	"errors"
	"fmt"
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
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.StringFlag{
				Name:     "to",
				Usage:    "the PostgreSQL database to copy into, as `URL` postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE; it must hold no rows",
				Required: true,
				EnvVars:  []string{"HELEN_MIGRATE_TO"},
			},
		},
		Action: func(c *cli.Context) error {
			to := c.String("to")
			if !pgstore.IsURL(to) {
				return setup.Usagef(c, "--to %s: not a postgres:// URL", pgstore.Redact(to))
			}
			return runMigrate(c.Context, envOf(c), to)
		},
	}
}

// runMigrate copies the state of the helen of e.dataDir, which must not
// run, into the PostgreSQL database at to.
func runMigrate(ctx context.Context, e env, to string) error {
	if a, err := dialAdmin(e.dataDir); err == nil {
		a.close()
		return fmt.Errorf("helen is running on %s: stop it first, so that its state does not change under the copy", e.dataDir)
	}
	if err := server.CheckDataDir(e.dataDir); errors.Is(err, server.ErrNotHelenDir) || errors.Is(err, server.ErrSharedStore) {
		return e.usagef("%v", err)
	} else if err != nil {
		return err
	}
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
	pg, err := pgstore.Open(ctx, to, pgstore.Options{})
	if err != nil {
		return err
	}
	defer pg.Close()
	fmt.Fprintf(e.out, "copying %s into %s\n", db.Path(), pg.Path())
	err = transfer.Copy(ctx, db, pg, func(area, what string) {
		fmt.Fprintf(e.out, "%s: copied %s\n", area, what)
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.out, "done: start helens with --store %s\n", pg.Path())
	return err
}
