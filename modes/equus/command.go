package equus

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/setup"
)

// ReloadExitCode is the exit status that tells stage0 helen asked for a
// reload.
const ReloadExitCode = 3

// Command returns the "equus equus" command: the agent.
func Command(version string) *cli.Command {
	return &cli.Command{
		Name:  "equus",
		Usage: "run the agent: connect to helen and run the checks it sends",
		Description: "Dials helen over mutual TLS and runs its checks. The first start enrolls\n" +
			"with --token; later starts use the certificate saved in --data.",
		Flags: Flags(),
		Action: func(c *cli.Context) error {
			log, err := setup.Logger(c)
			if err != nil {
				return err
			}
			cfg, err := ConfigFromCLI(c, version)
			if err != nil {
				return err
			}
			tuneGC(os.LookupEnv)
			tuneProcs(os.LookupEnv)
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			err = Run(ctx, cfg, log)
			if errors.Is(err, ErrReload) {
				log.Info("exiting for stage0 to reload", "status", ReloadExitCode)
				return cli.Exit("", ReloadExitCode)
			}
			if errors.Is(err, ErrCertExpired) {
				log.Error(err.Error(), "status", CertExpiredExitCode)
				return cli.Exit("", CertExpiredExitCode)
			}
			return err
		},
	}
}
