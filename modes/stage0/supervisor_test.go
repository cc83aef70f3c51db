package stage0

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/update"
)

// countingBody is a stand-in agent that counts its starts in dir/count,
// writes its pid to dir/pid, and then runs script with $n the count.
func countingBody(dir, script string) string {
	// The pid first: a test that sees the count has the pid of that run
	// (the other way round it could read the pid file empty, as 0).
	return "echo $$ > " + dir + "/pid\n" +
		"n=$(cat " + dir + "/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + dir + "/count\n" + script
}

func readInt(path string) int {
	b, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// runSupervisor runs Run in the background and returns the function that
// stops it and returns Run's error.
func runSupervisor(t *testing.T, cfg Config, rec *logRecorder) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, testLogger(t, rec)) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			done <- err
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return after its context ended")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return stop
}

// gone reports whether no process has the pid.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestRunRestartsAndStops(t *testing.T) {
	skipWithoutShell(t)
	h := newFakeHelen(t)
	dir := t.TempDir()
	a := newTestAgent(t, h, agentScript("1.0.0", countingBody(dir,
		"if [ $n -le 2 ]; then exit 1; fi\necho \"ready 1.0.0\"\nexec sleep 600")))
	rec := &logRecorder{}
	stop := runSupervisor(t, a.config(t, h, "1.0.0"), rec)

	poll(t, "the third start", func() bool { return readInt(filepath.Join(dir, "count")) == 3 })
	poll(t, "two deaths logged", func() bool { return rec.count(`msg="agent died"`) == 2 })
	// Backoff: 10 ms, then 20 ms.
	if rec.count("wait=10ms") != 1 || rec.count("wait=20ms") != 1 {
		t.Errorf("restart waits not 10ms then 20ms:\n%s", strings.Join(rec.lines, "\n"))
	}
	pid := readInt(filepath.Join(dir, "pid"))
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !gone(pid) {
		t.Errorf("agent %d still running after Run returned", pid)
	}
	if rec.count("stopping the agent") != 1 {
		t.Error("no log of the agent being stopped")
	}
}

func TestRunReloadSyncsBundle(t *testing.T) {
	skipWithoutShell(t)
	h := newFakeHelen(t)
	checks := t.TempDir()
	if err := os.WriteFile(filepath.Join(checks, "fresh.lua"), []byte("return function() return {status='ok'} end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := newTestAgent(t, h, agentScript("1.0.0", countingBody(dir,
		"if [ $n -eq 1 ]; then sleep 0.2; exit 3; fi\necho \"ready 1.0.0\"\nexec sleep 600")))
	rec := &logRecorder{}
	stop := runSupervisor(t, a.config(t, h, "1.0.0"), rec)
	poll(t, "the first start", func() bool { return readInt(filepath.Join(dir, "count")) == 1 })

	data, sum, err := update.PackBundle(checks)
	if err != nil {
		t.Fatal(err)
	}
	h.change(func(h *fakeHelen) { h.bundle, h.bundleSum, h.bundleCode = data, sum, http.StatusOK })
	poll(t, "the start after the reload", func() bool { return readInt(filepath.Join(dir, "count")) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.data, "checks", "fresh.lua")); err != nil {
		t.Errorf("bundle not installed: %v", err)
	}
	// Once when stage0 started (204: no bundle), once on the reload.
	if n := h.count("/v1/bundle"); n != 2 {
		t.Errorf("%d bundle requests, want 2", n)
	}
	if rec.count("agent exited for a reload") != 1 || rec.count("check bundle installed") != 1 {
		t.Errorf("reload and bundle install not logged once each")
	}
	if rec.count("reload changed nothing") != 0 {
		t.Errorf("a reload that installed a bundle waited like one that changed nothing")
	}
}

// An agent that enrolls on its first start gets helen's check bundle as
// soon as it is enrolled, without waiting for a reload: stage0 syncs it
// on the agent's ready line and starts the agent again to load it.
func TestFirstStartSyncsBundle(t *testing.T) {
	skipWithoutShell(t)
	h := newFakeHelen(t)
	checks := t.TempDir()
	if err := os.WriteFile(filepath.Join(checks, "fresh.lua"), []byte("return function() return {status='ok'} end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, sum, err := update.PackBundle(checks)
	if err != nil {
		t.Fatal(err)
	}
	h.change(func(h *fakeHelen) { h.bundle, h.bundleSum, h.bundleCode = data, sum, http.StatusOK })

	// The agent's certificate and key wait aside; the first run "enrolls"
	// by moving them into place before it says ready.
	dir := t.TempDir()
	a := newTestAgent(t, h, nil)
	pending := filepath.Join(dir, "pending")
	if err := os.Mkdir(pending, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"agent.pem", "agent-key.pem"} {
		if err := os.Rename(filepath.Join(a.data, f), filepath.Join(pending, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(a.exe, agentScript("1.0.0", countingBody(dir,
		"if [ $n -eq 1 ]; then mv '"+pending+"'/* '"+a.data+"'; fi\necho \"ready 1.0.0\"\nexec sleep 600")), 0o700); err != nil {
		t.Fatal(err)
	}
	rec := &logRecorder{}
	stop := runSupervisor(t, a.config(t, h, "1.0.0"), rec)
	poll(t, "the start after the enrollment", func() bool { return readInt(filepath.Join(dir, "count")) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.data, "checks", "fresh.lua")); err != nil {
		t.Errorf("bundle not installed: %v", err)
	}
	if n := h.count("/v1/bundle"); n != 1 {
		t.Errorf("%d bundle requests, want 1", n)
	}
	if rec.count("agent died") != 0 || rec.count("restarting the agent after a wait") != 0 {
		t.Errorf("the restart to load the bundle was taken for a crash")
	}
}

func TestSyncBundle(t *testing.T) {
	h := newFakeHelen(t)
	a := newTestAgent(t, h, []byte("#!/bin/sh\n"))
	s := newSupervisor(a.config(t, h, "1.0.0"), testLogger(t, &logRecorder{}))
	client, err := s.client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	checks := t.TempDir()
	os.WriteFile(filepath.Join(checks, "one.lua"), []byte("return function() end\n"), 0o644)
	data, sum, err := update.PackBundle(checks)
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name    string
		set     func(h *fakeHelen)
		changed bool
		err     string
	}{
		{"no-bundle", func(h *fakeHelen) {}, false, ""},
		{"first", func(h *fakeHelen) { h.bundle, h.bundleSum, h.bundleCode = data, sum, http.StatusOK }, true, ""},
		{"same", func(h *fakeHelen) {}, false, ""},
		{"bad-sum", func(h *fakeHelen) { h.bundleSum = strings.Repeat("0", 64) }, false, "checksum mismatch"},
		{"no-sum", func(h *fakeHelen) { h.bundleSum = "" }, false, "no X-Equus-Sha256"},
		{"server-error", func(h *fakeHelen) { h.bundleCode = http.StatusInternalServerError }, false, "500"},
	}
	for _, st := range steps {
		h.change(st.set)
		changed, err := s.syncBundle(context.Background(), client)
		if changed != st.changed || (err == nil) != (st.err == "") || err != nil && !strings.Contains(err.Error(), st.err) {
			t.Errorf("%s: changed %v, err %v; want %v, %q", st.name, changed, err, st.changed, st.err)
		}
		if st.name != "no-bundle" {
			if _, err := os.Stat(filepath.Join(a.data, "checks", "one.lua")); err != nil {
				t.Errorf("%s: installed bundle gone: %v", st.name, err)
			}
		}
	}
}

func TestState(t *testing.T) {
	path := filepath.Join(t.TempDir(), stateFileName)
	st, err := loadState(path)
	if err != nil || len(st.Bad) != 0 {
		t.Fatalf("missing file: %+v, %v", st, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st.Bad["1.2.0"] = badVersion{At: at, Reason: "crashed"}
	if err := st.save(path); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if b := got.Bad["1.2.0"]; !b.At.Equal(at) || b.Reason != "crashed" || len(got.Bad) != 1 {
		t.Fatalf("round trip: %+v", got)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	os.WriteFile(path, []byte("{not json"), 0o600)
	if got, err := loadState(path); err == nil || got.Bad == nil {
		t.Errorf("corrupt file: %+v, %v; want an error and an empty state", got, err)
	}
}
