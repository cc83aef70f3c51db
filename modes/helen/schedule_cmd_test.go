package helen

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/modes/setup"
)

// runCLI runs `equus helen ARGS...` and returns what it printed.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{Name: "equus", Flags: setup.GlobalFlags(), Writer: &out, ErrWriter: &out, Commands: []*cli.Command{Command("1.0.0", nil)},
		ExitErrHandler: func(*cli.Context, error) {}}
	setup.Guard(app)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	err := app.RunContext(ctx, append([]string{"equus", "helen"}, args...))
	return out.String(), err
}

// TestScheduleCommands adds, lists and removes schedules offline, then
// through a running helen, which runs a schedule added that way at once.
func TestScheduleCommands(t *testing.T) {
	dir := t.TempDir()
	// Offline: the data directory must exist, as after a first start.
	h := startHelen(t, server.Config{DataDir: dir})
	h.stop()
	h.srv.Close()
	if _, err := runCLI(t, "schedule", "add", "--data", dir, "--check", "disk", "--args", `{"path":"/"}`, "--every", "1m", "--agents", "web-*", "disk"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "schedule", "add", "--data", dir, "--check", "load", "--every", "0s", "bad"); err == nil {
		t.Error("a schedule with no interval was added")
	}
	out, err := runCLI(t, "schedule", "list", "--data", dir)
	if err != nil || !strings.Contains(out, "disk") || !strings.Contains(out, "web-*") || !strings.Contains(out, "1m0s") {
		t.Errorf("schedule list: %v\n%s", err, out)
	}

	h = startHelen(t, server.Config{DataDir: dir})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	if _, err := runCLI(t, "schedule", "add", "--data", dir, "--check", "uptime", "--every", "1s", "quick"); err != nil {
		t.Fatal(err)
	}
	poll(t, "the schedule added through the socket to run", func() bool { return a.CountChecks("uptime") >= 2 })
	out, err = runCLI(t, "schedule", "list", "--json", "--data", dir)
	var views []web.ScheduleView
	if err != nil || json.Unmarshal([]byte(out), &views) != nil || len(views) != 2 {
		t.Fatalf("schedule list --json: %v\n%s", err, out)
	}
	poll(t, "a status", func() bool { return len(h.srv.Statuses(false)) >= 1 })
	out, err = runCLI(t, "status", "--data", dir)
	if err != nil || !strings.Contains(out, "OK") || !strings.Contains(out, "quick") {
		t.Errorf("status: %v\n%s", err, out)
	}
	out, err = runCLI(t, "events", "--data", dir, "--since", "1h")
	if err != nil || !strings.Contains(out, "web-1  quick (uptime)  NEW -> OK") {
		t.Errorf("events: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "schedule", "rm", "--data", dir, "quick"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "schedule", "rm", "--data", dir, "quick"); err == nil {
		t.Error("removing a removed schedule: no error")
	}
	if on := h.srv.Monitor().Runs("quick"); len(on) > 0 {
		t.Errorf("the schedule removed through the socket still runs on %s", on)
	}
}
