package equus

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

func TestErrorFromHelenReconnects(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	a := startAgent(t, testConfig(t, p, h))
	hc := h.accept()
	hc.send(wire.Check("equus.ping", 1, nil))
	parseResult(t, hc.next(), 1, "equus.ping")
	hc.send(wire.Error(wire.CodeShuttingDown))
	hc.waitClosed()
	hc2 := h.accept()
	if got := string(hc2.hello); got != "hello 1 0.0.0-dev\n" {
		t.Errorf("second hello = %q", got)
	}
	hc2.send(wire.Check("equus.ping", 1, nil))
	parseResult(t, hc2.next(), 1, "equus.ping")
	if !a.log.contains(`level=INFO msg="helen is shutting down; reconnecting"`) || !a.log.contains("message=shutting_down") {
		t.Error("helen's shutting_down not logged as a routine reconnection")
	}
}

// TestHelenErrorSaysWhatToDo checks the line each error from helen gets:
// what it means for the agent and what the operator can do.
func TestHelenErrorSaysWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		code wire.Code
		want string
	}{
		{wire.CodeShuttingDown, `level=INFO msg="helen is shutting down; reconnecting"`},
		{wire.CodeNotAuthorized, "level=ERROR msg=\"helen refuses this agent's certificate: the agent was revoked"},
		{wire.CodeNotAuthorized, "give it a new certificate (equus helen issue NAME)"},
		{wire.CodeUnsupportedProtocolVersion, "install a version of equus that matches helen's"},
		{wire.CodeBadCommand, `level=ERROR msg="helen sent an error, disconnecting" helen=`},
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			checkGoroutines(t)
			p := newTestPKI(t)
			h := startHelen(t, p)
			a := startAgent(t, testConfig(t, p, h))
			hc := h.accept()
			hc.send(wire.Error(tc.code))
			hc.waitClosed()
			h.accept()
			if !a.log.contains(tc.want) || !a.log.contains("message="+string(tc.code)) || !a.log.contains("retry_in=") {
				t.Errorf("log has no %q with the code and the wait", tc.want)
			}
		})
	}
}

func TestUnreachableHelenSaysSo(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	h.ln.Close()
	a := startAgent(t, cfg)
	poll(t, "a line saying helen cannot be reached", func() bool {
		return a.log.contains(`level=WARN msg="cannot reach helen; is it running, and is --helen its agents' port?"`) &&
			a.log.contains("retry_in=") && a.log.contains("connection refused")
	})
}

func TestConnectionFailureReconnects(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	startAgent(t, testConfig(t, p, h))
	// Helen hangs up without a word, twice.
	for range 2 {
		hc := h.accept()
		hc.c.Close()
	}
	hc := h.accept()
	hc.send(wire.Check("equus.ping", 7, nil))
	parseResult(t, hc.next(), 7, "equus.ping")
}

func TestReloadInPlace(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	a := startAgent(t, cfg)
	hc := h.accept()

	hc.send(wire.Check("added", 1, nil))
	if d := parseResult(t, hc.next(), 1, "added"); d.Status != result.Unknown {
		t.Fatalf("added before the reload: %+v", d)
	}
	gate := filepath.Join(t.TempDir(), "gate")
	hc.send(wire.Check("gate", 2, gateArgs(t, gate, "finished")))
	added := `return { description = "added later", run = function() return { status = "warning", message = "new" } end }`
	if err := os.WriteFile(filepath.Join(cfg.ChecksDir, "added.lua"), []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	hc.send(wire.Reload())
	poll(t, "the agent to read the reload", func() bool { return a.log.contains("helen asks for a reload") })
	// The running check finishes, and its result goes out before the close.
	openGate(t, gate)
	if d := parseResult(t, hc.next(), 2, "gate"); d.Status != result.OK || d.Message != "finished" {
		t.Errorf("gate after reload: %+v", d)
	}
	hc.waitClosed()

	hc2 := h.accept()
	hc2.send(wire.Check("added", 1, nil))
	if d := parseResult(t, hc2.next(), 1, "added"); d.Status != result.Warning || d.Message != "new" {
		t.Errorf("added after the reload: %+v", d)
	}
}

func TestReloadDrainTimeout(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	cfg.Drain = 500 * time.Millisecond // the last half for the cancelled check to answer
	startAgent(t, cfg)
	hc := h.accept()
	gate := filepath.Join(t.TempDir(), "never")
	hc.send(wire.Check("gate", 1, gateArgs(t, gate, "")), wire.Reload())
	// Cancelled after the drain time, the check still gets its result.
	if d := parseResult(t, hc.next(), 1, "gate"); d.Status != result.Unknown {
		t.Errorf("gate cut short: %+v, want unknown", d)
	}
	hc.waitClosed()
	h.accept()
}

func TestVersionReloadBacksOff(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	a := startAgent(t, testConfig(t, p, h))
	hc := h.accept()
	hc.send(wire.Reload())
	hc.waitClosed()
	poll(t, "the log to say stage0 is needed", func() bool { return a.log.contains("needs equus running under stage0") })
	// The agent keeps trying, and runs checks for a helen that accepts it.
	hc2 := h.accept()
	hc2.send(wire.Check("equus.ping", 1, nil))
	parseResult(t, hc2.next(), 1, "equus.ping")
}

func TestSupervised(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	cfg.Supervised = true
	ready := &logtest.Buffer{}
	cfg.Ready = ready
	a := startAgent(t, cfg)

	hc := h.accept()
	if ready.String() != "" {
		t.Errorf("ready before helen accepted the hello: %q", ready.String())
	}
	hc.send(wire.Check("equus.info", 1, nil))
	parseResult(t, hc.next(), 1, "equus.info")
	if got := ready.String(); got != "ready 0.0.0-dev\n" {
		t.Errorf("ready line = %q", got)
	}
	hc.send(wire.Error(wire.CodeShuttingDown))
	hc.waitClosed()

	hc = h.accept()
	hc.send(wire.Check("equus.info", 1, nil))
	parseResult(t, hc.next(), 1, "equus.info")
	gate := filepath.Join(t.TempDir(), "gate")
	hc.send(wire.Check("gate", 2, gateArgs(t, gate, "done")), wire.Reload())
	poll(t, "the agent to read the reload", func() bool { return a.log.contains("helen asks for a reload") })
	openGate(t, gate)
	if d := parseResult(t, hc.next(), 2, "gate"); d.Status != result.OK {
		t.Errorf("gate: %+v", d)
	}
	if err := a.wait(t); !errors.Is(err, ErrReload) {
		t.Errorf("Run = %v, want ErrReload", err)
	}
	if got := ready.String(); got != "ready 0.0.0-dev\n" {
		t.Errorf("ready lines = %q, want one", got)
	}
}

func TestShutdown(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	a := startAgent(t, testConfig(t, p, h))
	hc := h.accept()
	gate := filepath.Join(t.TempDir(), "gate")
	hc.send(wire.Check("gate", 1, gateArgs(t, gate, "done")), wire.Check("equus.ping", 2, nil))
	parseResult(t, hc.next(), 2, "equus.ping")
	a.cancel()
	openGate(t, gate)
	if d := parseResult(t, hc.next(), 1, "gate"); d.Status != result.OK {
		t.Errorf("gate: %+v", d)
	}
	if err := a.wait(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	hc.waitClosed()
}

func TestShutdownDrainTimeout(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	cfg.Drain = 500 * time.Millisecond // the last half for the cancelled check to answer
	a := startAgent(t, cfg)
	hc := h.accept()
	hc.send(wire.Check("gate", 1, gateArgs(t, filepath.Join(t.TempDir(), "never"), "")), wire.Check("equus.ping", 2, nil))
	parseResult(t, hc.next(), 2, "equus.ping")
	a.cancel()
	if d := parseResult(t, hc.next(), 1, "gate"); d.Status != result.Unknown {
		t.Errorf("gate: %+v, want unknown", d)
	}
	if err := a.wait(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// TestChecksCannotReadAgentKey: a check's fs.read refuses the agent's key
// file, its data directory and its config file, and reads other files.
func TestChecksCannotReadAgentKey(t *testing.T) {
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	readFile := `return function(args)
  local data, err = require('fs').read(args.path)
  if data then return {status = "ok", message = data} end
  return {status = "critical", message = err}
end`
	if err := os.WriteFile(filepath.Join(cfg.ChecksDir, "readfile.lua"), []byte(readFile), 0o644); err != nil {
		t.Fatal(err)
	}
	inData := filepath.Join(cfg.DataDir, "note.txt")
	if err := os.WriteFile(inData, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.ConfigFile = filepath.Join(t.TempDir(), "equus.conf")
	if err := os.WriteFile(cfg.ConfigFile, []byte("token = SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	startAgent(t, cfg)
	hc := h.accept()
	for i, tt := range []struct {
		path, status string
	}{
		{cfg.KeyFile, "critical"},
		{inData, "critical"},
		{cfg.ConfigFile, "critical"},
		{cfg.CAFile, "ok"},
	} {
		args, _ := json.Marshal(map[string]string{"path": tt.path})
		id := int32(i + 1)
		hc.send(wire.Check("readfile", id, args))
		d := parseResult(t, hc.next(), id, "readfile")
		if string(d.Status) != tt.status || (tt.status == "critical" && !strings.Contains(d.Message, "not for checks to read")) {
			t.Errorf("fs.read(%s): %s %q, want %s", tt.path, d.Status, d.Message, tt.status)
		}
	}
}
