package stage0

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/leakcheck"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/modes/equus"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/update"
)

// TestMain fails the run when goroutines started by the tests outlive them.
func TestMain(m *testing.M) { leakcheck.Main(m, "equus/modes/stage0.") }

// skipWithoutShell skips tests whose stand-in agents are shell scripts.
func skipWithoutShell(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in agents are shell scripts")
	}
}

// agentScript is a stand-in for an equus binary of version: "version"
// prints what equus prints, and run as the agent it does what body says.
func agentScript(version, body string) []byte {
	return fmt.Appendf(nil, "#!/bin/sh\nif [ \"$1\" = version ]; then echo \"equus %s go test\"; exit 0; fi\n%s\n", version, body)
}

// Bodies of stand-in agents.
func readyBody(version string) string { return "echo \"ready " + version + "\"\nexec sleep 600" }

const (
	crashBody  = "echo crashing >&2\nexit 1"
	silentBody = "exec sleep 600"
)

// fakeHelen serves helen's update and bundle endpoints over mutual TLS,
// answering what the test sets.
type fakeHelen struct {
	srv *httptest.Server
	ca  *pki.CA

	mu         sync.Mutex
	offer      update.Offer
	offerCode  int
	binary     []byte
	bundle     []byte
	bundleSum  string
	bundleCode int
	requests   map[string]int
	// presented is the fingerprint of the last agent certificate seen.
	presented string
}

func newFakeHelen(t *testing.T) *fakeHelen {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("test helen", now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServer([]string{"127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHelen{ca: ca, offerCode: http.StatusNotFound, bundleCode: http.StatusNoContent, requests: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/update", h.agentOnly(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if r.URL.Query().Get("os") != runtime.GOOS || r.URL.Query().Get("arch") != runtime.GOARCH {
			http.Error(w, "wrong platform", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(h.offerCode)
		if h.offerCode == http.StatusOK {
			fmt.Fprintf(w, `{"version":%q,"os":%q,"arch":%q,"sha256":%q,"size":%d,"url":%q,"signature":%q}`,
				h.offer.Version, h.offer.OS, h.offer.Arch, h.offer.SHA256, h.offer.Size, h.offer.URL, h.offer.Signature)
		} else {
			io.WriteString(w, `{"error":"no release on offer"}`)
		}
	}))
	mux.HandleFunc("GET /v1/update/binary", h.agentOnly(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		w.Write(h.binary)
	}))
	mux.HandleFunc("GET /v1/bundle", h.agentOnly(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.bundleCode != http.StatusOK {
			w.WriteHeader(h.bundleCode)
			return
		}
		w.Header().Set("X-Equus-Sha256", h.bundleSum)
		w.Write(h.bundle)
	}))
	h.srv = httptest.NewUnstartedServer(mux)
	h.srv.TLS = pki.ServerConfig(ca, cert, []string{"http/1.1"})
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	return h
}

// agentOnly counts requests and refuses those without an agent
// certificate, as helen does.
func (h *fakeHelen) agentOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.requests[r.URL.Path]++
		if len(r.TLS.PeerCertificates) > 0 {
			h.presented = pki.Fingerprint(r.TLS.PeerCertificates[0])
		}
		h.mu.Unlock()
		if _, err := pki.AgentName(*r.TLS); err != nil {
			http.Error(w, "agent certificate required", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

func (h *fakeHelen) addr() string { return strings.TrimPrefix(h.srv.URL, "https://") }

// offerBinary makes helen offer bin as version, described truly.
func (h *fakeHelen) offerBinary(version string, bin []byte) {
	sum := sha256.Sum256(bin)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.offerCode = http.StatusOK
	h.binary = bin
	h.offer = update.Offer{
		Version: version, OS: runtime.GOOS, Arch: runtime.GOARCH,
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(bin)),
		URL: "/v1/update/binary?os=" + runtime.GOOS + "&arch=" + runtime.GOARCH,
	}
}

// change edits what helen says under its lock.
func (h *fakeHelen) change(f func(h *fakeHelen)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}

func (h *fakeHelen) count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests[path]
}

// testAgent is an enrolled agent's files and binaries for a supervisor:
// exe is stage0's own executable, agent the agent binary it owns.
type testAgent struct {
	exe, agent, data string
}

// newTestAgent writes an enrolled data directory for helen h, with bin as
// stage0's own executable and as the agent binary, as stage0 leaves them
// once it has started.
func newTestAgent(t *testing.T, h *fakeHelen, bin []byte) testAgent {
	t.Helper()
	dir := t.TempDir()
	a := testAgent{exe: filepath.Join(dir, "bin", "equus"), data: filepath.Join(dir, "data")}
	a.agent = AgentBinary(a.data)
	certPEM, keyPEM, err := h.ca.IssueClient("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(a.exe), a.data, filepath.Dir(a.agent)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{
		filepath.Join(a.data, "agent.pem"):     certPEM,
		filepath.Join(a.data, "agent-key.pem"): keyPEM,
		filepath.Join(a.data, "ca.pem"):        h.ca.CertPEM,
		a.exe:                                  bin,
		a.agent:                                bin,
	}
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// config returns a supervisor configuration for the agent, running as
// version.
func (a testAgent) config(t *testing.T, h *fakeHelen, version string) Config {
	return Config{
		Version:        version,
		Agent:          equus.Config{Version: version, Helens: []string{h.addr()}, DataDir: a.data},
		Executable:     a.exe,
		AgentBinary:    a.agent,
		RestartBackoff: 10 * time.Millisecond,
		ReadyTimeout:   10 * time.Second,
		Stdout:         io.Discard,
		Stderr:         testWriter{t},
	}
}

// binary returns the content of the agent binary.
func (a testAgent) binary(t *testing.T) []byte {
	t.Helper()
	return readBytes(t, a.agent)
}

// own returns the content of stage0's own executable.
func (a testAgent) own(t *testing.T) []byte {
	t.Helper()
	return readBytes(t, a.exe)
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testWriter sends what is written to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// testLogger is a logger that writes to the test log and to rec, for
// tests that look at what was logged.
func testLogger(t *testing.T, rec io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, rec), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logRecorder keeps what a logger wrote.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// count returns how many lines hold s.
func (r *logRecorder) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// poll waits until cond holds, failing the test after 20 s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, what, 20*time.Second, 10*time.Millisecond, cond)
}
