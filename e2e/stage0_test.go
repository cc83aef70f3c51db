package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
)

// A stage0 started from equus 1.0.0, against a helen whose releases offer
// 1.1.0, enrolls, is told to reload, and replaces the agent binary in its
// data directory with 1.1.0, never its own executable: that one is
// read-only here, as a package manager's file.
func TestStage0Update(t *testing.T) {
	t.Parallel()
	rel := t.TempDir()
	bin110, err := os.ReadFile(built[v110])
	if err != nil {
		t.Fatal(err)
	}
	writeRelease(t, rel, map[string][]byte{releaseName(v110, ".tar.gz"): tarGz(t, "equus", bin110)}, nil)
	h := startHelen(t, built[v110], "--releases="+rel)

	pkg := installPackage(t, v100)
	data := filepath.Join(t.TempDir(), "agent")
	start := time.Now()
	s := startStage0(t, pkg, data, h)
	h.agentReady(t, agentName, v110, 2*time.Minute)
	t.Logf("from stage0's start (enroll, hello as %s, reload, sync, download, swap, restart) to the agent reporting %s: %s",
		v100, v110, time.Since(start).Round(time.Millisecond))

	agent := agentBinary(data)
	if got := versionOf(t, agent); got != v110 {
		t.Errorf("agent binary on disk is %s, want %s", got, v110)
	}
	if got := versionOf(t, agent+".old"); got != v100 {
		t.Errorf("previous agent binary kept at .old is %s, want %s", got, v100)
	}
	if got, want := sha256File(t, pkg), sha256File(t, built[v100]); got != want {
		t.Errorf("stage0's own executable changed: sha256 %s, was %s", got, want)
	}
	if left, _ := os.ReadDir(filepath.Dir(pkg)); len(left) != 1 {
		t.Errorf("files beside stage0's own executable: %v", left)
	}
	if n := s.count("agent updated"); n != 1 {
		t.Errorf("stage0 logged %d updates, want 1", n)
	}
	if n := s.count("no --update-key: trusting helen for the new binary"); n != 1 {
		t.Errorf("stage0 without an update key warned %d times that it trusts helen, want once for its update", n)
	}
	for _, l := range strings.Split(s.output(), "\n") {
		if strings.Contains(l, "agent updated") {
			t.Logf("stage0: %s", l)
		}
	}
	if bad := badVersions(t, s.data); len(bad) != 0 {
		t.Errorf("versions recorded as bad: %v", bad)
	}

	// SIGTERM: stage0 stops the agent, waits for it and exits 0.
	pid := s.agentPID(t)
	if err := s.stop(t); err != nil {
		t.Errorf("stage0 after SIGTERM: %v, want exit status 0", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("agent %d still there after stage0 stopped: %v", pid, err)
	}
	if s.count("stopping the agent") != 1 {
		t.Errorf("stage0 did not log stopping the agent")
	}
}

// restartStage0 runs `bin stage0` again for an agent enrolled in data.
func restartStage0(t *testing.T, name, bin, data string, h *helen) *stage0 {
	t.Helper()
	p := startProc(t, name, bin, "stage0", "--helen", h.addr, "--ca-pin", h.pin, "--name", agentName,
		"--data", data, "--restart-backoff", "200ms", "--ready-timeout", "30s")
	return &stage0{proc: p, bin: bin, data: data}
}

// An update from helen newer than the package is kept when stage0 starts
// again from the package; once the package is upgraded past the update,
// the package's binary wins and helen's older release is not installed.
func TestStage0PackageUpgradeWins(t *testing.T) {
	t.Parallel()
	rel := t.TempDir()
	bin110, err := os.ReadFile(built[v110])
	if err != nil {
		t.Fatal(err)
	}
	writeRelease(t, rel, map[string][]byte{releaseName(v110, ""): bin110}, nil)
	h := startHelen(t, built[v110], "--releases="+rel)
	pkg100 := installPackage(t, v100)
	data := filepath.Join(t.TempDir(), "agent")
	agent := agentBinary(data)

	s := startStage0(t, pkg100, data, h)
	h.agentReady(t, agentName, v110, 2*time.Minute)
	if err := s.stop(t); err != nil {
		t.Fatalf("stage0 after SIGTERM: %v", err)
	}

	// The same package, started again: the newer update stays.
	s = restartStage0(t, "stage0 from the same package", pkg100, data, h)
	h.agentReady(t, agentName, v110, time.Minute)
	if s.count("running the agent binary kept in the data directory") != 1 {
		t.Error("stage0 did not say it kept the update")
	}
	if err := s.stop(t); err != nil {
		t.Fatalf("stage0 after SIGTERM: %v", err)
	}

	// The package is upgraded to 1.2.0, and its service restarted.
	pkg120 := installPackage(t, v120)
	s = restartStage0(t, "stage0 from the upgraded package", pkg120, data, h)
	h.agentReady(t, agentName, v120, time.Minute)
	if got := versionOf(t, agent); got != v120 {
		t.Errorf("agent binary on disk is %s, want the package's %s", got, v120)
	}
	if got, want := sha256File(t, agent), sha256File(t, pkg120); got != want {
		t.Errorf("agent binary sha256 %s, the package's %s", got, want)
	}
	if s.count("installed stage0's own binary as the agent binary") != 1 || s.count("updating the agent") != 0 {
		t.Error("stage0 did not install the package's binary, or updated to helen's older release")
	}
	for _, pkg := range []string{pkg100, pkg120} {
		if got := versionOf(t, pkg); got != map[string]string{pkg100: v100, pkg120: v120}[pkg] {
			t.Errorf("a package's executable changed: %s is %s", pkg, got)
		}
	}
}

// crashScript passes stage0's run check ("version") and exits 1 as an
// agent: a release that installs but does not start.
const crashScript = `#!/bin/sh
if [ "$1" = version ]; then echo "equus %s test-build"; exit 0; fi
echo "this build crashes on start" >&2
exit 1
`

// A new version that passes the run check but dies on start is rolled
// back, recorded, and not tried again, not even by a new stage0.
func TestStage0RollsBackCrashingVersion(t *testing.T) {
	t.Parallel()
	rel := t.TempDir()
	writeRelease(t, rel, map[string][]byte{releaseName(v120, ""): fmt.Appendf(nil, crashScript, v120)}, nil)
	h := startHelen(t, built[v110], "--releases="+rel)

	agent := installAgent(t, v110)
	data := filepath.Join(t.TempDir(), "agent")
	s := startStage0(t, agent, data, h)
	poll(t, "stage0 to record "+v120+" as bad", time.Minute, func() bool { return badVersions(t, data)[v120] != nil })
	// Helen asked for this version once; the agent coming back at its old
	// version is accepted and works, rather than being sent reload again.
	h.agentReady(t, agentName, v110, time.Minute)
	if got := versionOf(t, agentBinary(data)); got != v110 {
		t.Errorf("agent binary on disk after the rollback is %s, want %s", got, v110)
	}
	// An operator's reload makes stage0 sync again: it leaves the bad
	// version alone.
	if out, err := run(t, h.bin, "helen", "reload", agentName, "--data", h.data); err != nil {
		t.Fatalf("helen reload: %v: %s", err, out)
	}
	poll(t, "stage0 to refuse "+v120+" on the next reload", time.Minute, func() bool {
		return s.count("not updating to a version that failed here before") > 0
	})
	h.agentReady(t, agentName, v110, time.Minute)
	if n := s.count("updating the agent"); n != 1 {
		t.Errorf("stage0 tried %d updates, want 1", n)
	}
	if !strings.Contains(s.output(), "rolled back") {
		t.Errorf("stage0 did not log the rollback")
	}

	// A new stage0 reads the record and leaves the version alone.
	if err := s.stop(t); err != nil {
		t.Errorf("stage0 after SIGTERM: %v, want exit status 0", err)
	}
	s2 := startProc(t, "stage0 again", agent, "stage0",
		"--helen", h.addr, "--ca-pin", h.pin, "--name", agentName, "--data", data, "--restart-backoff", "200ms")
	poll(t, "the new stage0 to refuse "+v120, time.Minute, func() bool {
		return s2.count("not updating to a version that failed here before") > 0
	})
	if n := s2.count("updating the agent"); n != 0 {
		t.Errorf("the new stage0 tried %d updates, want none", n)
	}
	if got := versionOf(t, agentBinary(data)); got != v110 {
		t.Errorf("agent binary on disk is %s, want %s", got, v110)
	}
}

// A release whose checksums file disagrees with its binary is not offered,
// and a reload leaves the agent's binary as it is.
func TestStage0KeepsBinaryOnCorruptRelease(t *testing.T) {
	t.Parallel()
	good, err := os.ReadFile(built[v110])
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)/2] ^= 0xff
	rel := t.TempDir()
	name := releaseName(v120, "")
	writeRelease(t, rel, map[string][]byte{name: corrupt}, map[string]string{name: sha256File(t, built[v110])})
	h := startHelen(t, built[v110], "--releases="+rel)

	data := filepath.Join(t.TempDir(), "agent")
	s := startStage0(t, installAgent(t, v110), data, h)
	h.agentReady(t, agentName, v110, time.Minute)
	before := sha256File(t, agentBinary(data))

	// A reload makes stage0 ask for the offer, which helen refuses.
	if _, err := run(t, h.bin, "helen", "reload", agentName, "--data", h.data); err != nil {
		t.Fatal(err)
	}
	poll(t, "stage0 to find no update", time.Minute, func() bool { return s.count("update check failed") > 0 })
	h.agentReady(t, agentName, v110, time.Minute)
	if !strings.Contains(h.output(), "checksum mismatch") {
		t.Errorf("helen did not log the checksum mismatch")
	}
	if after := sha256File(t, agentBinary(data)); after != before {
		t.Errorf("agent binary changed: sha256 %s, was %s", after, before)
	}
	if n := s.count("updating the agent"); n != 0 {
		t.Errorf("stage0 tried %d updates, want none", n)
	}
}

// freshCheck is a check put in helen's check directory while the agent
// runs.
const freshCheck = `return {
  description = "a check that came with the bundle",
  run = function(args) return {status = "ok", message = "fresh from helen"} end,
}
`

// A check added to helen's --checks directory reaches the agent on a
// reload: stage0 syncs the bundle into DATA/checks and starts the agent
// again.
func TestStage0SyncsBundle(t *testing.T) {
	t.Parallel()
	checks := t.TempDir()
	h := startHelen(t, built[v110], "--checks="+checks)
	agent := installAgent(t, v110)
	data := filepath.Join(t.TempDir(), "agent")
	s := startStage0(t, agent, data, h)
	h.agentReady(t, agentName, v110, time.Minute)
	if doc := h.runCheck(t, agentName, "fresh"); doc.Status != result.Unknown {
		t.Fatalf("fresh before it exists: %+v, want unknown", doc)
	}

	if err := os.WriteFile(filepath.Join(checks, "fresh.lua"), []byte(freshCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := run(t, h.bin, "helen", "reload", agentName, "--data", h.data); err != nil {
		t.Fatal(err)
	}
	var doc result.Doc
	poll(t, "the new check to run on the agent", time.Minute, func() bool {
		doc = h.runCheck(t, agentName, "fresh")
		return doc.Status == result.OK
	})
	t.Logf("from the reload to the new check running: %s", time.Since(start).Round(time.Millisecond))
	if doc.Message != "fresh from helen" {
		t.Errorf("fresh: %+v", doc)
	}
	if got := readFile(filepath.Join(data, "checks", "fresh.lua")); got != freshCheck {
		t.Errorf("DATA/checks/fresh.lua: %q", got)
	}
	if fi, err := os.Lstat(filepath.Join(data, "checks")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("DATA/checks is not the link InstallBundle swaps: %v %v", fi, err)
	}
	// Once on the first start (helen's check directory empty), once on
	// the reload.
	if n := s.count("check bundle installed"); n != 2 {
		t.Errorf("stage0 logged %d bundle installs, want 2", n)
	}
}

// A machine that joins gets helen's checks with its first start, without
// a reload: stage0 syncs the bundle once the agent has enrolled.
func TestStage0FirstStartGetsBundle(t *testing.T) {
	t.Parallel()
	checks := t.TempDir()
	if err := os.WriteFile(filepath.Join(checks, "fresh.lua"), []byte(freshCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	h := startHelen(t, built[v110], "--checks="+checks)
	s := startStage0(t, installAgent(t, v110), filepath.Join(t.TempDir(), "agent"), h)
	h.agentReady(t, agentName, v110, time.Minute)
	var doc result.Doc
	poll(t, "helen's check to run on the new agent", time.Minute, func() bool {
		doc = h.runCheck(t, agentName, "fresh")
		return doc.Status == result.OK
	})
	if doc.Message != "fresh from helen" {
		t.Errorf("fresh: %+v", doc)
	}
	if s.count("check bundle installed") != 1 {
		t.Errorf("stage0 did not log one bundle install")
	}
}

// The join command helen prints installs the binary, checks its SHA-256
// and writes the config, into a --prefix without starting anything; the
// agent then runs from that config as its unit would run it.
func TestBootstrapScript(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is needed for the bootstrap test and is missing")
		}
		t.Skip("curl not installed: the bootstrap script test needs it")
	}
	h := startHelen(t, built[v110])
	tok := h.token(t)
	if !strings.Contains(tok.Join, "--pinnedpubkey") || !strings.Contains(tok.Join, tok.Token) {
		t.Fatalf("join command: %s", tok.Join)
	}
	root := t.TempDir()
	cmd := exec.Command("sh", "-c", tok.Join+" --name "+agentName+" --prefix "+root+" --no-start")
	cmd.Env = testEnv(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("join command: %v\n%s", err, out)
	}
	t.Logf("bootstrap: %s", strings.TrimSpace(string(out)))

	installed := filepath.Join(root, "usr", "local", "bin", "equus")
	if got := versionOf(t, installed); got != v110 {
		t.Errorf("installed version %s, want %s", got, v110)
	}
	if got, want := sha256File(t, installed), sha256File(t, built[v110]); got != want {
		t.Errorf("installed binary sha256 %s, helen's %s", got, want)
	}
	conf := readFile(filepath.Join(root, "etc", "equus", "equus.conf"))
	for _, want := range []string{
		"helen = " + h.addr, "ca-pin = " + h.pin, "token = " + tok.Token, "name = " + agentName,
		"data = " + filepath.Join(root, "var", "lib", "equus"),
	} {
		if !strings.Contains(conf, want+"\n") {
			t.Errorf("equus.conf lacks %q:\n%s", want, conf)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "var", "lib", "equus")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v %v, want mode 0700", fi, err)
	}
	if !strings.Contains(string(out), "bootstrap: installed equus "+v110) {
		t.Errorf("bootstrap did not say what it installed")
	}

	// What the unit the script installs runs: stage0 with the config.
	confPath := filepath.Join(root, "etc", "equus", "equus.conf")
	s := startProc(t, "installed stage0", installed, "--config", confPath, "stage0")
	h.agentReady(t, agentName, v110, time.Minute)
	// Enrolled, the agent's spent token leaves the config; the rest stays.
	poll(t, "stage0 to remove the token from equus.conf", time.Minute, func() bool {
		return !strings.Contains(readFile(confPath), tok.Token)
	})
	rest := readFile(confPath)
	for _, want := range []string{"helen = " + h.addr, "ca-pin = " + h.pin, "name = " + agentName} {
		if !strings.Contains(rest, want+"\n") {
			t.Errorf("equus.conf lost %q once the token went:\n%s", want, rest)
		}
	}
	if strings.Contains(rest, "token") {
		t.Errorf("equus.conf still has a token line:\n%s", rest)
	}
	if s.count("removed its spent token from the config file") != 1 {
		t.Error("stage0 did not say it removed the token")
	}
	// The agent runs from the binary stage0 owns; the script's stays.
	if got, want := sha256File(t, installed), sha256File(t, built[v110]); got != want {
		t.Errorf("the installed binary changed: sha256 %s, was %s", got, want)
	}
	if got := versionOf(t, agentBinary(filepath.Join(root, "var", "lib", "equus"))); got != v110 {
		t.Errorf("agent binary in the data directory: %s, want %s", got, v110)
	}
}
