// Package modes builds the equus command line from the packages of its
// modes: helen (the server), equus (the agent) and stage0 (its supervisor).
package modes

import (
	"fmt"
	"io"

	"github.com/equus-monitoring/equus/modes/dev"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/check"
	"github.com/equus-monitoring/equus/modes/equus"
	"github.com/equus-monitoring/equus/modes/helen"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/modes/stage0"
)

// App returns the equus application of the given build.
func App(b Build) *cli.App {
	version := b.Version
	app := &cli.App{
		Name:                 "equus",
		Usage:                "remote monitoring: the helen server, the equus agent and its stage0 supervisor",
		Version:              version,
		HideVersion:          true,
		Flags:                setup.GlobalFlags(),
		EnableBashCompletion: true,
		// Errors are printed and mapped to exit codes by main, through
		// ExitCode, never by the library calling os.Exit.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			helen.Command(version, dev.Run),
			equus.Command(version),
			stage0.Command(version),
			check.Command(),
			versionCommand(b),
		},
	}
	setup.Guard(app)
	return app
}

// ExitCode prints err to w and returns the exit status for it.
func ExitCode(w io.Writer, err error) int { return setup.ExitCode(w, err) }

func versionCommand(b Build) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, the Go version, OS and architecture, and the commit built",
		Action: func(c *cli.Context) error {
			fmt.Fprintln(c.App.Writer, b.String())
			return nil
		},
	}
}
