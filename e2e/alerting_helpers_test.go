package e2e

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/smtptest"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
)

// receiverCA is a CA of the test's own that signs its receivers'
// certificates (webhook, SMTP). Helen trusts it the supported way, as the
// system's roots: SSL_CERT_FILE names the file of roots Go's crypto/x509
// reads on Linux and the BSDs, instead of the distribution's.
type receiverCA struct {
	ca   *pki.CA
	file string // the CA's certificate, PEM
}

func newReceiverCA(t *testing.T) *receiverCA {
	t.Helper()
	ca, err := pki.NewCA("e2e receivers CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "receivers-ca.pem")
	if err := os.WriteFile(file, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return &receiverCA{ca: ca, file: file}
}

// env is what a helen that trusts the CA has in its environment.
func (rc *receiverCA) env() []string { return []string{"SSL_CERT_FILE=" + rc.file} }

// serverCert is a certificate for 127.0.0.1 from the CA.
func (rc *receiverCA) serverCert(t *testing.T) tls.Certificate {
	t.Helper()
	cert, err := rc.ca.IssueServer([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// hookNote is a webhook's body, as docs/NOTIFICATIONS.md gives its
// fields (those the tests look at).
type hookNote struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Agent    string `json:"agent"`
	Schedule string `json:"schedule"`
	Check    string `json:"check"`
	Status   string `json:"status"`
	Previous string `json:"previous"`
	Message  string `json:"message"`
	Attempt  int    `json:"attempt"`
	Delivery string `json:"delivery"`
	// Key is the request's Idempotency-Key header.
	Key string `json:"-"`
}

// webhook is an HTTPS webhook receiver on loopback under a receiverCA.
// While down it answers 503, as a receiver behind a proxy whose backend
// is away; up, 200. It keeps what it accepted, in order, and counts what
// it refused.
type webhook struct {
	srv *httptest.Server

	mu       sync.Mutex
	down     bool
	accepted []hookNote
	refused  int
	bad      []string // requests that were not a notification
}

func newWebhook(t *testing.T, rc *receiverCA) *webhook {
	t.Helper()
	wh := &webhook{}
	wh.srv = httptest.NewUnstartedServer(http.HandlerFunc(wh.serve))
	wh.srv.TLS = &tls.Config{Certificates: []tls.Certificate{rc.serverCert(t)}}
	wh.srv.StartTLS()
	t.Cleanup(wh.srv.Close)
	return wh
}

func (wh *webhook) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var n hookNote
	if err == nil {
		err = json.Unmarshal(body, &n)
	}
	wh.mu.Lock()
	defer wh.mu.Unlock()
	if err != nil || r.Method != http.MethodPost {
		wh.bad = append(wh.bad, r.Method+" "+string(body))
		http.Error(w, "not a notification", http.StatusBadRequest)
		return
	}
	if wh.down {
		wh.refused++
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	n.Key = r.Header.Get("Idempotency-Key")
	wh.accepted = append(wh.accepted, n)
	io.WriteString(w, "thanks")
}

// url is where helen posts to.
func (wh *webhook) url() string { return wh.srv.URL + "/hook" }

func (wh *webhook) setDown(down bool) {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	wh.down = down
}

// got returns what the receiver accepted, in order.
func (wh *webhook) got() []hookNote {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	return append([]hookNote(nil), wh.accepted...)
}

func (wh *webhook) refusals() int {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	return wh.refused
}

// checkWellFormed fails the test if helen sent the receiver anything but
// notifications, or one without its idempotency key.
func (wh *webhook) checkWellFormed(t *testing.T) {
	t.Helper()
	wh.mu.Lock()
	defer wh.mu.Unlock()
	if len(wh.bad) > 0 {
		t.Errorf("the webhook was sent what is no notification: %q", wh.bad)
	}
	for _, n := range wh.accepted {
		if n.Key == "" || n.Key != n.Delivery {
			t.Errorf("notification %+v: Idempotency-Key %q, want its delivery id", n, n.Key)
		}
	}
}

// of returns the notifications in ns of kind about agent (any, for "")
// and schedule.
func of(ns []hookNote, kind, agent, schedule string) []hookNote {
	var out []hookNote
	for _, n := range ns {
		if n.Kind == kind && (agent == "" || n.Agent == agent) && n.Schedule == schedule {
			out = append(out, n)
		}
	}
	return out
}

// startHelenEnv is startHelen with env added to helen's environment.
func startHelenEnv(t *testing.T, bin string, env []string, args ...string) *helen {
	t.Helper()
	return startHelenIn(t, bin, filepath.Join(t.TempDir(), "helen"), env, args...)
}

// startHelenIn runs `bin helen serve` on a loopback port with its data in
// data (new or one a helen used before), with env and args added.
func startHelenIn(t *testing.T, bin, data string, env []string, args ...string) *helen {
	t.Helper()
	args = append([]string{"helen", "serve", "--listen=127.0.0.1:0", "--http=", "--data=" + data}, args...)
	h := &helen{proc: startProcEnv(t, "helen", env, bin, args...), bin: bin, data: data}
	h.waitServing(t)
	return h
}

// helenCLI runs `equus helen ARGS... --data DATA` and fails the test if
// it fails.
func (h *helen) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, h.bin, append(append([]string{"helen"}, args...), "--data", h.data)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// notifications returns the deliveries helen lists, as `helen
// notifications --json` prints them.
func (h *helen) notifications(t *testing.T) []state.Notification {
	t.Helper()
	out := h.cli(t, "notifications", "--since", "1h", "--json")
	var ns []state.Notification
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatalf("helen notifications --json: %q: %v", out, err)
	}
	return ns
}

// statuses returns the status of each schedule on the agent, as `helen
// status --json` prints them.
func (h *helen) statuses(t *testing.T) map[string]string {
	t.Helper()
	out := h.cli(t, "status", "--json")
	var views []state.Status
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("helen status --json: %q: %v", out, err)
	}
	st := map[string]string{}
	for _, v := range views {
		if v.Agent == agentName && v.Schedule != "" {
			st[v.Schedule] = v.Status
		}
	}
	return st
}

// freeAddr returns a loopback address free when asked.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newMailbox starts an SMTP server on loopback offering STARTTLS with a
// certificate of a receiverCA, that keeps the messages it takes.
func newMailbox(t *testing.T, rc *receiverCA) *smtptest.Server {
	t.Helper()
	return smtptest.Start(t, smtptest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{rc.serverCert(t)}}})
}
