// Command equus is the Equus monitoring system in one executable: the server
// (helen), the agent (equus) and the agent's supervisor (stage0).
package main

import (
	"context"
	"os"
	"runtime/debug"

	"github.com/equus-monitoring/equus/modes"
)

// Set at build time with -ldflags "-X main.version=1.2.3 -X main.commit=HASH
// -X main.date=RFC3339"; without them commit and date come from the
// toolchain's record of the git checkout, when there is one.
var (
	version = "0.0.0-dev"
	commit  string
	date    string
)

func main() {
	info, _ := debug.ReadBuildInfo()
	build := modes.Build{Version: version, Commit: commit, Date: date}.WithVCS(info)
	// Signals are caught only by the commands that run until stopped
	// (helen serve, equus, stage0, check), each with its own
	// signal.NotifyContext: catching them costs threads, a fifth of the
	// CPU of a short command such as `helen run`, which Ctrl-C ends as
	// it ends any process.
	err := modes.Run(context.Background(), build, os.Args)
	os.Exit(modes.ExitCode(os.Stderr, err))
}
