package stage0

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/testfs"
)

// The rule by which stage0 picks, at start, between the agent binary it
// owns and its own executable.
func TestKeepOwned(t *testing.T) {
	bad := map[string]badVersion{"1.3.0": {Reason: "crashed"}}
	for _, tt := range []struct {
		name, own, owned string
		keep             bool
	}{
		{"first-start", "1.0.0", "", false},
		{"self-update-newer", "1.0.0", "1.1.0", true},
		{"package-upgrade-newer", "1.2.0", "1.1.0", false},
		{"package-caught-up", "1.1.0", "1.1.0", false},
		{"package-downgrade", "1.0.0", "1.0.1", true},
		{"numeric-not-text", "1.9.0", "1.10.0", true},
		{"release-beats-its-candidate", "1.1.0", "1.1.0-rc.1", false},
		{"candidate-then-release", "1.1.0-rc.1", "1.1.0", true},
		{"owned-failed-here", "1.0.0", "1.3.0", false},
		{"own-not-a-version", "dev", "1.1.0", false},
		{"owned-not-a-version", "1.0.0", "garbage", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keep, why := keepOwned(tt.own, tt.owned, bad)
			if keep != tt.keep {
				t.Errorf("keepOwned(own %q, owned %q) = %v (%s), want %v", tt.own, tt.owned, keep, why, tt.keep)
			}
			if why == "" {
				t.Error("no reason given")
			}
		})
	}
}

// readOnlyExecutable puts bin as stage0's own executable in a directory
// that refuses writes even to root (a read-only tmpfs), as a package's
// /usr/bin may be, and returns its path.
func readOnlyExecutable(t *testing.T, bin []byte) string {
	t.Helper()
	dir := testfs.Tmpfs(t, 1<<20)
	exe := filepath.Join(dir, "equus")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	testfs.ReadOnly(t, dir)
	return exe
}

// What prepareAgent does with the agent binary it owns, stage0's own
// executable read-only: it copies its own over it unless the owned one is
// a newer update that has not failed, and never writes its own.
func TestPrepareAgent(t *testing.T) {
	skipWithoutShell(t)
	own := agentScript("1.1.0", readyBody("1.1.0"))
	exe := readOnlyExecutable(t, own)
	older := agentScript("1.0.0", readyBody("1.0.0"))
	newer := agentScript("1.2.0", readyBody("1.2.0"))
	sameVersion := agentScript("1.1.0", "# another build\n"+readyBody("1.1.0"))
	for _, tt := range []struct {
		name string
		// owned is the agent binary before, nil for none; bad a version
		// recorded as failed.
		owned []byte
		bad   string
		want  []byte
		// running is the version the supervisor then runs.
		running string
	}{
		{"none", nil, "", own, "1.1.0"},
		{"broken", []byte("#!/bin/sh\nexit 1\n"), "", own, "1.1.0"},
		{"older", older, "", own, "1.1.0"},
		{"same-version-other-build", sameVersion, "", own, "1.1.0"},
		{"same", own, "", own, "1.1.0"},
		{"newer", newer, "", newer, "1.2.0"},
		{"newer-but-failed", newer, "1.2.0", own, "1.1.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			cfg := Config{Version: "1.1.0", Executable: exe, Stderr: testWriter{t}}
			cfg.Agent.DataDir = data
			if tt.owned != nil {
				if err := os.MkdirAll(filepath.Join(data, "bin"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(AgentBinary(data), tt.owned, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			s := newSupervisor(cfg, testLogger(t, &logRecorder{}))
			if tt.bad != "" {
				s.state.Bad[tt.bad] = badVersion{At: time.Now(), Reason: "test"}
			}
			s.prepareAgent(context.Background())
			if got := readBytes(t, AgentBinary(data)); !bytes.Equal(got, tt.want) {
				t.Errorf("agent binary:\n%s\nwant:\n%s", got, tt.want)
			}
			if s.running != tt.running || s.agentExe != AgentBinary(data) || s.noUpdate != "" {
				t.Errorf("runs %s as %s (no update: %q), want %s from the data directory", s.agentExe, s.running, s.noUpdate, tt.running)
			}
			if !bytes.Equal(readBytes(t, exe), own) {
				t.Error("stage0's own executable changed")
			}
			if left, _ := filepath.Glob(filepath.Join(data, "bin", ".*")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// A data directory where the agent binary cannot be written: stage0 runs
// its own executable and makes no update, rather than write its own.
func TestPrepareAgentUnwritable(t *testing.T) {
	skipWithoutShell(t)
	h := newFakeHelen(t)
	own := agentScript("1.0.0", readyBody("1.0.0"))
	h.offerBinary("1.1.0", agentScript("1.1.0", readyBody("1.1.0")))
	a := newTestAgent(t, h, own)
	a.exe = readOnlyExecutable(t, own)
	// A file where the agent binary's directory should be.
	a.agent = filepath.Join(a.data, "notadir", "equus")
	if err := os.WriteFile(filepath.Dir(a.agent), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &logRecorder{}
	s := newSupervisor(a.config(t, h, "1.0.0"), testLogger(t, rec))
	s.prepareAgent(context.Background())
	if s.agentExe != a.exe || s.noUpdate == "" {
		t.Fatalf("runs %s (no update: %q), want its own executable and no updates", s.agentExe, s.noUpdate)
	}
	client, err := s.client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	if ch := s.upgrade(context.Background(), client); ch != nil {
		ch.stop(time.Second)
		t.Fatal("updated without an agent binary of its own")
	}
	if rec.count("not updating the agent") != 1 || h.count("/v1/update/binary") != 0 {
		t.Error("no log line saying why nothing is updated, or a download")
	}
	if !bytes.Equal(readBytes(t, a.exe), own) {
		t.Error("stage0's own executable changed")
	}
}

// stage0 started from a read-only executable, as a package installs it,
// updates the agent binary in its data directory and never its own; a
// package upgrade to a newer version then wins over the update, and an
// update newer than the package is kept across a restart.
func TestRunUpdatesOwnedBinary(t *testing.T) {
	skipWithoutShell(t)
	h := newFakeHelen(t)
	v100 := agentScript("1.0.0", readyBody("1.0.0"))
	v110 := agentScript("1.1.0", readyBody("1.1.0"))
	v120 := agentScript("1.2.0", readyBody("1.2.0"))
	h.offerBinary("1.1.0", v110)
	a := newTestAgent(t, h, v100)
	os.Remove(a.agent) // as before stage0's first start
	pkg := readOnlyExecutable(t, v100)

	// run runs stage0 from exe as version until it logs a line with want.
	run := func(exe, version, want string) *logRecorder {
		t.Helper()
		cfg := a.config(t, h, version)
		cfg.Executable = exe
		rec := &logRecorder{}
		stop := runSupervisor(t, cfg, rec)
		poll(t, "stage0 to log "+want, func() bool { return rec.count(want) > 0 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		return rec
	}

	run(pkg, "1.0.0", `msg="agent updated"`)
	if !bytes.Equal(a.binary(t), v110) || !bytes.Equal(readBytes(t, a.agent+".old"), v100) {
		t.Error("the agent binary is not the update, with stage0's own as the previous one")
	}
	if !bytes.Equal(readBytes(t, pkg), v100) {
		t.Error("stage0's own executable changed")
	}

	// A restart of the same package keeps the newer update.
	rec := run(pkg, "1.0.0", `msg="agent ready" version=1.1.0`)
	if rec.count("running the agent binary kept in the data directory") != 1 || !bytes.Equal(a.binary(t), v110) {
		t.Error("the update was not kept over the older package")
	}

	// The package is upgraded past the update: its binary wins.
	upgraded := readOnlyExecutable(t, v120)
	rec = run(upgraded, "1.2.0", `msg="agent ready" version=1.2.0`)
	if rec.count("installed stage0's own binary as the agent binary") != 1 || !bytes.Equal(a.binary(t), v120) {
		t.Error("the upgraded package's binary did not replace the older update")
	}
	if rec.count("updating the agent") != 0 {
		t.Error("stage0 updated to helen's older version")
	}
	if !bytes.Equal(readBytes(t, pkg), v100) || !bytes.Equal(readBytes(t, upgraded), v120) {
		t.Error("a package's executable changed")
	}
}

// Once the agent is enrolled, stage0 takes the spent token out of its
// config file, keeping every other line, and starts the agent without it
// from then on; an agent that is not enrolled keeps it.
func TestRunDropsToken(t *testing.T) {
	skipWithoutShell(t)
	const conf = "# written by hand\nhelen = helen.example:7480\ntoken = tok-1\nname = web-1\n\n#token = commented\nexec-dir = /opt/plugins\n"
	const want = "# written by hand\nhelen = helen.example:7480\nname = web-1\n\n#token = commented\nexec-dir = /opt/plugins\n"
	for _, enrolled := range []bool{true, false} {
		name := "enrolled"
		if !enrolled {
			name = "not-enrolled"
		}
		t.Run(name, func(t *testing.T) {
			h := newFakeHelen(t)
			dir := t.TempDir()
			a := newTestAgent(t, h, agentScript("1.0.0", countingBody(dir,
				`echo "${EQUUS_TOKEN-none}" > `+dir+`/token.$n`+"\n"+readyBody("1.0.0"))))
			if !enrolled {
				os.Remove(filepath.Join(a.data, "agent.pem"))
			}
			file := filepath.Join(t.TempDir(), "equus.conf")
			if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := a.config(t, h, "1.0.0")
			cfg.ConfigFile = file
			cfg.Env = []string{"EQUUS_TOKEN=tok-1"}
			rec := &logRecorder{}
			stop := runSupervisor(t, cfg, rec)
			poll(t, "the agent to say ready", func() bool { return rec.count(`msg="agent ready"`) == 1 })
			got := string(readBytes(t, file))
			if !enrolled {
				if got != conf {
					t.Errorf("config of an agent not enrolled changed to:\n%s", got)
				}
				return
			}
			if got != want {
				t.Errorf("config:\n%s\nwant:\n%s", got, want)
			}
			if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("config mode: %v %v, want 0600", fi, err)
			}
			// The next start of the agent has no token.
			if err := syscall.Kill(readInt(filepath.Join(dir, "pid")), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			poll(t, "the agent's second start", func() bool { return readInt(filepath.Join(dir, "count")) == 2 })
			poll(t, "the second start to write its token", func() bool {
				b, _ := os.ReadFile(filepath.Join(dir, "token.2"))
				return len(b) > 0
			})
			if first, second := readBytes(t, filepath.Join(dir, "token.1")), readBytes(t, filepath.Join(dir, "token.2")); string(first) != "tok-1\n" || string(second) != "none\n" {
				t.Errorf("the agent's token: %q, then %q; want tok-1, then none", first, second)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if rec.count("removed its spent token from the config file") != 1 {
				t.Error("the removal was not logged once")
			}
		})
	}
}

// Stopped just as an update's new agent said ready, stage0 stops that
// agent too before Run returns: no agent outlives its supervisor.
func TestRunStoppedAtUpdateStopsNewAgent(t *testing.T) {
	skipWithoutShell(t)
	h := newFakeHelen(t)
	h.offerBinary("1.1.0", agentScript("1.1.0", readyBody("1.1.0")))
	a := newTestAgent(t, h, agentScript("1.0.0", readyBody("1.0.0")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &cancelOn{want: `msg="agent updated"`, cancel: cancel}
	if err := Run(ctx, a.config(t, h, "1.0.0"), testLogger(t, rec)); err != nil {
		t.Fatal(err)
	}
	if rec.count(`msg="agent updated"`) != 1 {
		t.Fatal("stage0 did not update the agent")
	}
	pids := rec.pids()
	if len(pids) == 0 {
		t.Fatal("no agent started")
	}
	for _, pid := range pids {
		if !gone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("agent %d still runs after Run returned", pid)
		}
	}
}

// cancelOn is a logRecorder that cancels a context once a line holds want.
type cancelOn struct {
	logRecorder
	want   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	n, err := c.logRecorder.Write(p)
	if strings.Contains(string(p), c.want) {
		c.cancel()
	}
	return n, err
}

// pids returns the pids of the agents stage0 logged as started.
func (c *cancelOn) pids() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pids []int
	for _, l := range c.lines {
		if !strings.Contains(l, `msg="agent started"`) {
			continue
		}
		_, rest, _ := strings.Cut(l, " pid=")
		f, _, _ := strings.Cut(rest, " ")
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
