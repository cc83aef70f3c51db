package setup

import (
	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/lua"
)

// ExecFlags are the flags of the policy for the programs checks may run,
// which the agent, stage0 and `equus check` take: the agent's own rule,
// set on its machine, that nothing helen sends can change.
func ExecFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "exec-dir", Usage: "`DIR` checks may run programs from (repeatable; default: the Nagios plugin directories)", EnvVars: []string{"EQUUS_EXEC_DIRS"}},
		&cli.StringSliceFlag{Name: "allow-wrappers", Usage: "let checks run the wrapper `PLUGIN`s named (negate, urlize, check_by_ssh, check_apt, check_log, ...), refused by default since each runs any command it is given; repeatable or comma-separated", EnvVars: []string{"EQUUS_ALLOW_WRAPPERS"}},
		&cli.BoolFlag{Name: "no-exec", Usage: "checks run no programs at all (the nagios check answers unknown)", EnvVars: []string{"EQUUS_NO_EXEC"}},
	}
}

// ExecPolicy returns the policy that the ExecFlags of c ask for.
func ExecPolicy(c *cli.Context) lua.ExecPolicy {
	return lua.ExecPolicy{
		Off:           c.Bool("no-exec"),
		Dirs:          c.StringSlice("exec-dir"),
		AllowWrappers: c.StringSlice("allow-wrappers"),
	}
}
