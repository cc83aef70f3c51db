package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/browsertest"
	"github.com/equus-monitoring/equus/internal/leakcheck"
	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/internal/testfs"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/result"
)

// The versions the tests build equus as.
const (
	v100 = "1.0.0"
	v110 = "1.1.0"
	v120 = "1.2.0"
)

// agentName is the name the tests' agents enroll as.
const agentName = "web-1"

// built maps a version to the equus binary built as it, in TestMain.
var built = map[string]string{}

// TestMain builds equus once for the package, as each version the tests
// run, into a temporary directory removed at the end, and fails the run
// when the tests leave a goroutine of theirs behind (one that waits for a
// process or copies its output); the browser of the console's tests, if
// they started it, is stopped once they ran.
func TestMain(m *testing.M) {
	if runtime.GOOS == "windows" {
		fmt.Println("e2e: skipped on Windows: the tests use shell scripts and signals")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "equus-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := 1
	if err := buildVersions(dir, v100, v110, v120); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build:", err)
	} else {
		// The PostgreSQL server of the tests of helens that share a
		// store (pgtest) is stopped after.
		code = leakcheck.Run(browsertest.Stopping(m), "equus/e2e.")
		pgtest.Stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildVersions builds the executable of the module (the parent directory)
// once for each version, the way a release is built.
func buildVersions(dir string, versions ...string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	for _, v := range versions {
		out := filepath.Join(dir, "equus-"+v)
		// Only link flags differ from an ordinary build, so the packages
		// come from the build cache, and the second version only links.
		cmd := exec.Command(goCmd, "build", "-ldflags", "-s -w -X main.version="+v, "-o", out, "..")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("equus %s: %v\n%s", v, err, msg)
		}
		built[v] = out
	}
	return nil
}

// testEnv is the environment of the processes a test starts: the test's
// own, without the settings of a real equus or helen.
func testEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "EQUUS_") || strings.HasPrefix(kv, "HELEN_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "XDG_STATE_HOME="+t.TempDir())
}

// proc is a process a test started; it is stopped when the test ends, and
// its output is logged if the test failed.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  logtest.Buffer // stdout and stderr
	done chan struct{}
	err  error
}

func startProc(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, name, nil, bin, args...)
}

// startProcEnv is startProc with env added to the process's environment.
func startProcEnv(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(testEnv(t), env...)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.output())
		}
	})
	return p
}

// stop sends SIGTERM and waits for the process, killing it after a while.
// It returns how the process ended.
func (p *proc) stop(t *testing.T) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop within 30 s of SIGTERM; killing it", p.name)
		p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

func (p *proc) output() string { return p.out.String() }

// poll waits until cond holds, failing the test after timeout.
func poll(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	wait.Until(t, what, timeout, 100*time.Millisecond, cond)
}

// run runs bin with args to its end and returns its stdout.
func run(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = testEnv(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// helen is a helen server process on loopback.
type helen struct {
	*proc
	bin, data string
	// addr is the agents' port, pin its CA's pin.
	addr, pin string
}

var (
	servingRE = regexp.MustCompile(`serving agents on (\S+)`)
	pinRE     = regexp.MustCompile(`CA pin: (sha256:[0-9a-f]+)`)
)

// startHelen runs `bin helen serve` on a loopback port in a fresh data
// directory, with args added.
func startHelen(t *testing.T, bin string, args ...string) *helen {
	t.Helper()
	data := filepath.Join(t.TempDir(), "helen")
	args = append([]string{"helen", "serve", "--listen=127.0.0.1:0", "--http=", "--data=" + data}, args...)
	h := &helen{proc: startProc(t, "helen", bin, args...), bin: bin, data: data}
	h.waitServing(t)
	return h
}

// waitServing waits until helen prints its address and CA pin, and keeps
// them.
func (h *helen) waitServing(t *testing.T) {
	t.Helper()
	poll(t, "helen to print its address and CA pin", 30*time.Second, func() bool {
		out := h.output()
		a, p := servingRE.FindStringSubmatch(out), pinRE.FindStringSubmatch(out)
		if a == nil || p == nil {
			select {
			case <-h.done:
				t.Fatalf("helen exited: %v\n%s", h.err, out)
			default:
			}
			return false
		}
		h.addr, h.pin = strings.TrimSuffix(a[1], ","), p[1]
		return true
	})
}

// tokenResponse is what `helen token --json` prints.
type tokenResponse struct {
	Token string `json:"token"`
	Join  string `json:"join"`
}

// token makes a one-use enrollment token.
func (h *helen) token(t *testing.T) tokenResponse {
	t.Helper()
	out, err := run(t, h.bin, "helen", "token", "--data", h.data, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var tr tokenResponse
	if err := json.Unmarshal([]byte(out), &tr); err != nil || tr.Token == "" {
		t.Fatalf("helen token --json: %q: %v", out, err)
	}
	return tr
}

// agentView is an agent as `helen agents --json` prints it.
type agentView struct {
	Name, Version string
	Connected     bool
	LastSeen      time.Time `json:"last_seen"`
}

// agent returns what helen knows of the agent name.
func (h *helen) agent(t *testing.T, name string) (agentView, bool) {
	t.Helper()
	out, err := run(t, h.bin, "helen", "agents", "--data", h.data, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var agents []agentView
	if err := json.Unmarshal([]byte(out), &agents); err != nil {
		t.Fatalf("helen agents --json: %q: %v", out, err)
	}
	for _, a := range agents {
		if a.Name == name {
			return a, true
		}
	}
	return agentView{}, false
}

// runCheck runs a check on an agent with `helen run --json`, with args
// (ARGS_JSON) if given.
func (h *helen) runCheck(t *testing.T, agent, check string, args ...string) result.Doc {
	t.Helper()
	cmd := append([]string{"helen", "run", agent, check}, args...)
	out, _ := run(t, h.bin, append(cmd, "--data", h.data, "--json", "--timeout", "10s")...)
	var doc result.Doc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("helen run --json: %q: %v", out, err)
	}
	return doc
}

// agentReady waits until the agent is connected as version and answers a
// check.
func (h *helen) agentReady(t *testing.T, name, version string, timeout time.Duration) {
	t.Helper()
	poll(t, fmt.Sprintf("agent %s connected as %s", name, version), timeout, func() bool {
		a, ok := h.agent(t, name)
		return ok && a.Connected && a.Version == version
	})
	poll(t, fmt.Sprintf("agent %s to answer equus.ping", name), timeout, func() bool {
		return h.runCheck(t, name, "equus.ping").Status == result.OK
	})
}

// installAgent copies the binary of version to a fresh directory, as a
// package or the bootstrap script installs it, and returns its path: the
// executable that stage0 runs from and copies to the agent binary in its
// data directory.
func installAgent(t *testing.T, version string) string {
	t.Helper()
	data, err := os.ReadFile(built[version])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bin", "equus")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// installPackage puts the binary of version where nothing may write it, as
// a package manager's file that stage0 must leave alone: a read-only tmpfs
// as root (who writes anywhere else), a read-only directory otherwise. It
// returns its path.
func installPackage(t *testing.T, version string) string {
	t.Helper()
	data, err := os.ReadFile(built[version])
	if err != nil {
		t.Fatal(err)
	}
	var dir string
	if os.Geteuid() == 0 {
		dir = testfs.Tmpfs(t, 2*int64(len(data))+1<<20)
	} else {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "equus")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		testfs.ReadOnly(t, dir)
	} else {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
	}
	return path
}

// agentBinary is the agent binary stage0 owns in its data directory.
func agentBinary(data string) string { return filepath.Join(data, "bin", "equus") }

// stage0 is an agent supervised by stage0.
type stage0 struct {
	*proc
	bin, data string
}

// startStage0 runs `bin stage0` for helen h with the agent's data in data,
// enrolling with a new token, and short waits, with args added.
func startStage0(t *testing.T, bin, data string, h *helen, args ...string) *stage0 {
	t.Helper()
	args = append([]string{"stage0",
		"--helen", h.addr, "--ca-pin", h.pin, "--token", h.token(t).Token,
		"--name", agentName, "--data", data,
		"--restart-backoff", "200ms", "--ready-timeout", "30s"}, args...)
	p := startProc(t, "stage0", bin, args...)
	return &stage0{proc: p, bin: bin, data: data}
}

var pidRE = regexp.MustCompile(`msg="agent started" pid=(\d+)`)

// agentPID returns the pid of the agent stage0 started last.
func (s *stage0) agentPID(t *testing.T) int {
	t.Helper()
	m := pidRE.FindAllStringSubmatch(s.output(), -1)
	if m == nil {
		t.Fatal("stage0 logged no agent start")
	}
	pid, err := strconv.Atoi(m[len(m)-1][1])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// count returns how many lines of the output hold s.
func (p *proc) count(s string) int {
	n := 0
	for _, l := range strings.Split(p.output(), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// versionOf returns the version that `bin version` prints.
func versionOf(t *testing.T, bin string) string {
	t.Helper()
	out, err := run(t, bin, "version")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != "equus" {
		t.Fatalf("%s version: %q", bin, out)
	}
	return f[1]
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// releaseName is the goreleaser name of a release file of this platform.
func releaseName(version, ext string) string {
	return fmt.Sprintf("equus_%s_%s_%s%s", version, runtime.GOOS, runtime.GOARCH, ext)
}

// writeRelease lays files out in dir like a goreleaser dist/ folder, with
// a checksums.txt of their SHA-256; sums overrides the checksums of the
// files it names.
func writeRelease(t *testing.T, dir string, files map[string][]byte, sums map[string]string) {
	t.Helper()
	var list strings.Builder
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(data)
		sum := hex.EncodeToString(s[:])
		if o, ok := sums[name]; ok {
			sum = o
		}
		fmt.Fprintf(&list, "%s  %s\n", sum, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "checksums.txt"), []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tarGz returns a tar.gz archive holding data as the file name, like a
// goreleaser archive.
func tarGz(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Now()})
	if err == nil {
		_, err = tw.Write(data)
	}
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// badVersions returns the versions stage0 recorded as failed in data.
func badVersions(t *testing.T, data string) map[string]json.RawMessage {
	t.Helper()
	var st struct {
		Bad map[string]json.RawMessage `json:"bad_versions"`
	}
	b, err := os.ReadFile(filepath.Join(data, "stage0-state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("stage0-state.json: %v: %s", err, b)
	}
	return st.Bad
}

// readFile returns the content of path, or "" when it cannot be read.
func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}
