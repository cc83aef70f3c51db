// Command equus is the Equus monitoring system in one executable: the server
// (helen), the agent (equus) and the agent's supervisor (stage0).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/equus-monitoring/equus/modes"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "0.0.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := modes.Run(ctx, version, os.Args)
	stop()
	os.Exit(modes.ExitCode(os.Stderr, err))
}
