// Command equus is the Equus monitoring system in one executable: the server
// (helen), the agent (equus) and the agent's supervisor (stage0).
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := modes.Run(ctx, build, os.Args)
	stop()
	os.Exit(modes.ExitCode(os.Stderr, err))
}
