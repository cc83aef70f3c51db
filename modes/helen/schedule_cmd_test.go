package helen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state"
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

// TestScheduleConfirmation: schedule add stores --attempts and
// --retry-every (defaults 1 and the interval), from the flags or their
// variables, and refuses values out of bounds as usage errors, storing
// nothing.
func TestScheduleConfirmation(t *testing.T) {
	dir := t.TempDir()
	h := startHelen(t, server.Config{DataDir: dir})
	h.stop()
	h.srv.Close()
	add := func(args ...string) (string, error) {
		return runCLI(t, append([]string{"schedule", "add", "--data", dir, "--check", "load", "--every", "1m"}, args...)...)
	}
	if out, err := add("--attempts", "3", "--retry-every", "10s", "three"); err != nil || !strings.Contains(out, "confirmed after 3 in a row, retried every 10s") {
		t.Fatalf("add --attempts 3 --retry-every 10s: %v\n%s", err, out)
	}
	if _, err := add("plain"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HELEN_SCHEDULE_ATTEMPTS", "5")
	t.Setenv("HELEN_SCHEDULE_RETRY_EVERY", "30s")
	if _, err := add("env"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{
		{"--attempts", "0"}, {"--attempts", "21"}, {"--retry-every", "500ms"}, {"--retry-every", "2m"},
	} {
		out, err := add(append(bad, "bad")...)
		var code cli.ExitCoder
		if err == nil || !errors.As(err, &code) || code.ExitCode() != 2 {
			t.Errorf("add %v: %v (want a usage error)\n%s", bad, err, out)
		}
	}
	out, err := runCLI(t, "schedule", "list", "--json", "--data", dir)
	var views []web.ScheduleView
	if err != nil || json.Unmarshal([]byte(out), &views) != nil {
		t.Fatalf("schedule list --json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, v := range views {
		got[v.Name] = fmt.Sprintf("%d %v", v.Attempts, time.Duration(v.RetryEvery))
	}
	want := map[string]string{"three": "3 10s", "plain": "1 1m0s", "env": "5 30s"}
	if !maps.Equal(got, want) {
		t.Errorf("schedules stored: %v, want %v", got, want)
	}
}

// TestEventLineConfirmation: an event line says soft or hard and the
// attempt when a schedule takes more than one, and flapping's start.
func TestEventLineConfirmation(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ev   state.Event
		want string
	}{
		{state.Event{Time: at, Agent: "web-1", Schedule: "s", From: "ok", To: "critical", StateType: state.Soft, Attempt: 1, MaxAttempts: 3, Message: "m"}, "s  OK -> CRITICAL (soft 1/3)  m"},
		{state.Event{Time: at, Agent: "web-1", Schedule: "s", From: "critical", To: "critical", StateType: state.Hard, Attempt: 3, MaxAttempts: 3, HardChange: true, Message: "m"}, "s  CRITICAL -> CRITICAL (hard 3/3)  m"},
		{state.Event{Time: at, Agent: "web-1", Schedule: "s", From: "ok", To: "critical", StateType: state.Hard, Attempt: 1, MaxAttempts: 1, Flapping: true, Flap: state.FlapStarted, Message: "m"}, "s  OK -> CRITICAL flapping started  m"},
		{state.Event{Time: at, Agent: "web-1", From: "up", To: "down", Message: "m"}, "agent  UP -> DOWN  m"},
	} {
		if got := EventLine(tc.ev); !strings.HasSuffix(got, "web-1  "+tc.want) {
			t.Errorf("EventLine = %q, want it to end in %q", got, "web-1  "+tc.want)
		}
	}
}
