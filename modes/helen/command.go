package helen

import (
	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/setup"
)

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
