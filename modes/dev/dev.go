// Package dev is `equus helen serve --dev`: helen on loopback in a fresh
// data directory, with one agent of this very program enrolled and
// connected and a few checks scheduled, so that one command shows a
// newcomer the system working. It is the one place that puts the server
// and the agent in one process, so that neither imports the other.
package dev

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/equus-monitoring/equus/modes/helen"
	"github.com/equus-monitoring/equus/modes/helen/server"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/equus"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state"
)

// devAgent is the name of the agent `helen serve --dev` runs.
const devAgent = "local"

// devSchedules are the schedules `helen serve --dev` starts with.
var devSchedules = []state.Schedule{
	{Name: "load", Check: "load"},
	{Name: "memory", Check: "memory"},
	{Name: "disk", Check: "disk", Args: json.RawMessage(`{"path":"/"}`)},
	{Name: "uptime", Check: "uptime"},
}

const devEvery = 10 * time.Second

// Run runs helen with a fresh data directory (unless --data was given),
// on loopback, with one agent in this process enrolled and connected and a
// few checks scheduled; it prints where everything is, then each event,
// until ctx ends.
func Run(ctx context.Context, c *cli.Context, cfg server.Config) error {
	out := c.App.Writer
	if !c.IsSet("log-level") {
		// The terminal is for the banner and the events; say only what
		// goes wrong, unless asked for more.
		if log, err := setup.NewLogger(c.App.ErrWriter, "warn", c.String("log-format")); err == nil {
			cfg.Log = log
		}
	}
	keep := c.IsSet("data")
	if !keep {
		dir, err := os.MkdirTemp("", "helen-dev-")
		if err != nil {
			return fmt.Errorf("--dev: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.DataDir = dir
	}
	// The agent is this very program: there is nothing to update it to.
	cfg.UpdateDisabled = true
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	agentsAddr, httpAddr := c.String("listen"), c.String("http")
	if !c.IsSet("listen") {
		agentsAddr = freeOr("127.0.0.1:7480")
	}
	if !c.IsSet("http") {
		httpAddr = freeOr("127.0.0.1:7481")
	}
	ls, err := srv.Listen(agentsAddr, httpAddr)
	if err != nil {
		return err
	}
	hctx, stopHelen := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHelen()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(hctx, ls) }()

	events, unsubscribe := srv.Subscribe(256)
	defer unsubscribe()
	agentDone, err := startDevAgent(ctx, srv, cfg, ls.Agents.Addr().String())
	if err != nil {
		stopHelen()
		<-served
		return err
	}
	for _, s := range devSchedules {
		s.Every, s.Timeout = devEvery, devEvery-time.Second
		if _, err := srv.PutSchedule(s); err != nil {
			cfg.Log.Error("--dev schedule", "schedule", s.Name, "err", err)
		}
	}
	printDevBanner(out, srv, cfg.DataDir, keep, ls)
	return watch(ctx, out, events, agentDone, served, stopHelen)
}

// watch prints each event until ctx ends, the agent stops or helen does,
// then stops them both, helen last, and returns what went wrong first.
func watch(ctx context.Context, out io.Writer, events <-chan state.Event, agentDone, served <-chan error, stopHelen func()) error {
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case ev := <-events:
			fmt.Fprintln(out, helen.EventLine(ev))
		case err := <-agentDone:
			runErr = fmt.Errorf("--dev agent: %w", err)
			agentDone = nil
			break loop
		case err := <-served:
			return err
		}
	}
	fmt.Fprintln(out, "stopping")
	if agentDone != nil {
		if err := <-agentDone; err != nil {
			runErr = fmt.Errorf("--dev agent: %w", err)
		}
	}
	stopHelen()
	if err := <-served; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// startDevAgent enrolls and runs an agent in this process, in a directory
// of helen's data directory, until ctx ends. Its result arrives on the
// channel it returns.
func startDevAgent(ctx context.Context, srv *server.Server, cfg server.Config, addr string) (<-chan error, error) {
	dir := filepath.Join(cfg.DataDir, "dev-agent")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--dev agent: %w", err)
	}
	secret, _, err := srv.DB().CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour, Agent: devAgent}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("--dev agent: %w", err)
	}
	acfg := equus.Config{
		Version:    cfg.Version,
		Helens:     []string{addr},
		CAPin:      srv.CA().Pin(),
		Token:      secret,
		Name:       devAgent,
		DataDir:    dir,
		BackoffMin: 250 * time.Millisecond,
		BackoffMax: 5 * time.Second,
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	done := make(chan error, 1)
	go func() { done <- equus.Run(ctx, acfg, log.With("mode", "agent")) }()
	return done, nil
}

// freeOr returns addr when it can be listened on, else the same host with
// a port the system picks.
func freeOr(addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		host, _, _ := net.SplitHostPort(addr)
		return net.JoinHostPort(host, "0")
	}
	ln.Close()
	return addr
}

func printDevBanner(w io.Writer, srv *server.Server, dir string, keep bool, ls server.Listeners) {
	token, _ := srv.AdminToken()
	removed := " (removed on exit)"
	if keep {
		removed = ""
	}
	fmt.Fprintf(w, "Equus dev: helen and one agent, %q, on this machine, checking load, memory, disk and uptime every %s.\n\n", devAgent, devEvery)
	fmt.Fprintf(w, "  data      %s%s\n", dir, removed)
	fmt.Fprintf(w, "  agents    %s (CA pin %s)\n", ls.Agents.Addr(), srv.CA().Pin())
	ca := filepath.Join(dir, "ca.pem")
	if ls.Ops != nil {
		base := "https://" + ls.Ops.Addr().String()
		fmt.Fprintf(w, "  console   %s/ (log in with the admin token; the browser must trust %s)\n", base, ca)
		fmt.Fprintf(w, "  API       %s/v1/ (Authorization: Bearer %s)\n", base, token)
		fmt.Fprintf(w, "  metrics   %s/metrics\n", base)
	}
	fmt.Fprintf(w, "\nTry, in another terminal:\n")
	for _, cmd := range []string{
		"equus helen status --data %[1]s",
		"equus helen events --data %[1]s",
		"equus helen history " + devAgent + " load --data %[1]s",
		"equus helen run " + devAgent + " disk '{\"path\":\"/\"}' --data %[1]s",
		"equus helen schedule add cpu --check cpu --every 30s --data %[1]s",
		"equus helen schedule list --data %[1]s",
	} {
		fmt.Fprintf(w, "  "+cmd+"\n", dir)
	}
	if ls.Ops != nil {
		base := "https://" + ls.Ops.Addr().String()
		fmt.Fprintf(w, "  curl --cacert %s -H 'Authorization: Bearer %s' %s/v1/status\n", ca, token, base)
		fmt.Fprintf(w, "  curl --cacert %s %s/metrics\n", ca, base)
	}
	fmt.Fprintf(w, "\nEvents (Ctrl-C stops it all):\n")
}
