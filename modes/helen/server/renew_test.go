package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/equus-monitoring/equus/modes/equus"
	"github.com/equus-monitoring/equus/modes/helen/agentapi"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// postRenew posts a renewal request presenting cert (none when nil),
// whatever CAs helen says it takes, and returns the status and answer; err
// is the request's failure, a refused handshake for one.
func postRenew(t testing.TB, h *testHelen, cert *tls.Certificate, csr []byte) (int, pki.EnrollResponse, error) {
	t.Helper()
	body, err := json.Marshal(pki.RenewRequest{CSR: string(csr)})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientConfig(pki.Trust{CA: h.srv.CA().Cert}, "127.0.0.1", nil, []string{"http/1.1"})
	if err != nil {
		t.Fatal(err)
	}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: waitFor}).Post("https://"+h.addr()+"/v1/renew", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, pki.EnrollResponse{}, err
	}
	defer resp.Body.Close()
	var er pki.EnrollResponse
	if err := json.NewDecoder(resp.Body).Decode(&er); err != nil {
		t.Fatalf("answer to a renewal (%s): %v", resp.Status, err)
	}
	return resp.StatusCode, er, nil
}

// issued makes a certificate for name pinned as its one, as helen issue
// does, at now.
func issued(t testing.TB, h *testHelen, name string, now time.Time) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := h.srv.CA().IssueClient(name, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.DB().PinCert(name, pki.Fingerprint(cert.Leaf), now); err != nil {
		t.Fatal(err)
	}
	return cert
}

func mustAgent(t testing.TB, h *testHelen, name string) state.Agent {
	t.Helper()
	a, err := h.srv.DB().Agent(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRenew: a renewal over mutual TLS with the pinned certificate gets a
// certificate for the same name and the new key, which helen accepts
// beside the old one until its first use; after that, only it.
func TestRenew(t *testing.T) {
	h := startHelen(t, Config{})
	cert := issued(t, h, "web-1", time.Now())
	csr, key := newCSR(t, "web-1")
	code, er, err := postRenew(t, h, &cert, csr)
	if err != nil || code != http.StatusOK {
		t.Fatalf("renewal: %d, %v (%s)", code, err, er.Error)
	}
	renewed, err := tls.X509KeyPair([]byte(er.Cert), key)
	if err != nil {
		t.Fatalf("the renewed certificate does not go with the new key: %v", err)
	}
	if er.Name != "web-1" || renewed.Leaf.Subject.CommonName != "web-1" || !bytes.Equal([]byte(er.CA), h.srv.CA().CertPEM) {
		t.Fatalf("renewal answered %q, a certificate for %q", er.Name, renewed.Leaf.Subject.CommonName)
	}
	a := mustAgent(t, h, "web-1")
	if a.Fingerprint != pki.Fingerprint(cert.Leaf) || a.Pending != pki.Fingerprint(renewed.Leaf) {
		t.Fatalf("after the renewal: %+v", a)
	}
	// The session of the old certificate goes on; the new one's hello
	// makes it the agent's only certificate.
	old := startAgentWith(t, h, "web-1", &cert, behavior{})
	old.Ready()
	if a := mustAgent(t, h, "web-1"); !a.CertExpires.Equal(cert.Leaf.NotAfter) {
		t.Fatalf("connected with a certificate expiring %v, the agent's record says %v", cert.Leaf.NotAfter, a.CertExpires)
	}
	next := startAgentWith(t, h, "web-1", &renewed, behavior{})
	next.Ready()
	if a := mustAgent(t, h, "web-1"); a.Fingerprint != pki.Fingerprint(renewed.Leaf) || a.Pending != "" {
		t.Fatalf("the renewed certificate's use did not pin it: %+v", a)
	}
	if a := mustAgent(t, h, "web-1"); !a.CertExpires.Equal(renewed.Leaf.NotAfter) {
		t.Fatalf("connected with the renewed certificate, expiring %v, the agent's record says %v", renewed.Leaf.NotAfter, a.CertExpires)
	}
	rc := dialRaw(t, h, &cert, []string{wire.ALPN})
	rc.Write("hello 1 1.0.0\n")
	rc.ExpectClosedWith(wire.CodeNotAuthorized)
}

// TestRenewRefused: renewals that helen must refuse are refused, over
// HTTPS with 4xx or in the handshake, and change nothing.
func TestRenewRefused(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	h := startHelen(t, Config{Clock: clk})
	now := clk.Now()
	pinned := issued(t, h, "web-1", now)
	replaced := issued(t, h, "web-2", now)
	issued(t, h, "web-2", now)
	revoked := issued(t, h, "web-3", now)
	if err := h.srv.DB().Revoke("web-3", now); err != nil {
		t.Fatal(err)
	}
	expired := issued(t, h, "web-4", now.Add(-2*DefaultCertLifetime))
	unknown := agentCert(t, h.srv, "web-5")
	foreignCA, err := pki.NewCA("another helen", now)
	if err != nil {
		t.Fatal(err)
	}
	foreign := func() *tls.Certificate {
		certPEM, keyPEM, err := foreignCA.IssueClient("web-1", now)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return &c
	}()
	// A renewal made now makes the next one too soon.
	soon := issued(t, h, "web-6", now)
	csr6, _ := newCSR(t, "web-6")
	if code, er, err := postRenew(t, h, &soon, csr6); err != nil || code != http.StatusOK {
		t.Fatalf("first renewal of web-6: %d, %v (%s)", code, err, er.Error)
	}
	csr := func(name string) []byte { c, _ := newCSR(t, name); return c }

	tests := []struct {
		name  string
		agent string
		cert  *tls.Certificate
		csr   []byte
		want  int // 0: the handshake is refused
	}{
		{"no-certificate", "web-1", nil, csr("web-1"), http.StatusUnauthorized},
		{"not-pinned", "web-2", &replaced, csr("web-2"), http.StatusForbidden},
		{"revoked", "web-3", &revoked, csr("web-3"), http.StatusForbidden},
		{"expired", "web-4", &expired, csr("web-4"), 0},
		{"foreign-ca", "web-1", foreign, csr("web-1"), 0},
		{"unknown-agent", "web-5", unknown, csr("web-5"), http.StatusForbidden},
		{"other-name", "web-1", &pinned, csr("web-2"), http.StatusForbidden},
		{"same-key", "web-1", &pinned, csrWithKey(t, "web-1", pinned), http.StatusBadRequest},
		{"bad-csr", "web-1", &pinned, []byte("junk"), http.StatusBadRequest},
		{"no-csr", "web-1", &pinned, nil, http.StatusBadRequest},
		{"too-soon", "web-6", &soon, csr("web-6"), http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := h.srv.DB().Agent(tt.agent)
			code, er, err := postRenew(t, h, tt.cert, tt.csr)
			switch {
			case tt.want == 0 && err == nil:
				t.Fatalf("renewal got through the handshake: %d %s", code, er.Error)
			case tt.want == 0:
				t.Logf("refused in the handshake: %v", err)
			case err != nil:
				t.Fatalf("renewal: %v, want %d", err, tt.want)
			case code != tt.want:
				t.Fatalf("renewal: %d (%s), want %d", code, er.Error, tt.want)
			}
			if er.Cert != "" {
				t.Fatal("a refused renewal came with a certificate")
			}
			after, _ := h.srv.DB().Agent(tt.agent)
			if before.Fingerprint != after.Fingerprint || before.Pending != after.Pending ||
				before.Pinned != after.Pinned || !before.Renewed.Equal(after.Renewed) {
				t.Fatalf("a refused renewal changed the agent:\n%+v\n%+v", before, after)
			}
		})
	}
	// Later, web-6 may renew again.
	clk.Step(DefaultCertLifetime / agentapi.RenewIntervals)
	if code, er, err := postRenew(t, h, &soon, csr("web-6")); err != nil || code != http.StatusOK {
		t.Fatalf("renewal of web-6 after the interval: %d, %v (%s)", code, err, er.Error)
	}
}

// csrWithKey makes a certificate request for name with cert's own key.
func csrWithKey(t testing.TB, name string, cert tls.Certificate) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// realAgent is the real agent (equus.Run) on the test's clock.
type realAgent struct {
	dir  string
	logs *logtest.Buffer
	stop context.CancelFunc
	done chan error
}

// startRealAgent enrolls a real agent called name with h and runs it until
// the test ends, with clk as its clock.
func startRealAgent(t *testing.T, h *testHelen, clk *testingclock.FakeClock, name string) *realAgent {
	t.Helper()
	secret, _, err := h.srv.DB().CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour, Agent: name}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	a := runAgent(t, equus.Config{
		Version: "1.0.0", Helens: []string{h.addr()}, CAPin: h.srv.CA().Pin(), Token: secret, Name: name,
		DataDir: t.TempDir(), Clock: clk,
	})
	t.Cleanup(func() {
		if err := a.wait(); err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	poll(t, name+" enrolled and connected", func() bool {
		_, err := os.Stat(a.certFile())
		_, ok := h.srv.hub.Session(name)
		return err == nil && ok
	})
	return a
}

// runAgent runs equus.Run with cfg, quick to reconnect unless cfg says
// otherwise, until the test ends or wait is called.
func runAgent(t *testing.T, cfg equus.Config) *realAgent {
	t.Helper()
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 100*time.Millisecond
	}
	cfg.Drain = time.Second
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, logtest.Writer{T: t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	a := &realAgent{dir: cfg.DataDir, logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() { a.done <- equus.Run(ctx, cfg, log.With("mode", "agent")) }()
	t.Cleanup(func() { cancel(); a.wait() })
	return a
}

// wait stops the agent and returns what Run returned; again, nil.
func (a *realAgent) wait() error {
	a.stop()
	err, ok := <-a.done
	if ok {
		close(a.done)
	}
	return err
}

func (a *realAgent) certFile() string { return filepath.Join(a.dir, "agent.pem") }
func (a *realAgent) keyFile() string  { return filepath.Join(a.dir, "agent-key.pem") }

// files returns the agent's certificate and key files as they are.
func (a *realAgent) files(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, err := os.ReadFile(a.certFile())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = os.ReadFile(a.keyFile())
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

// connectedWith waits until the agent's session with h presents the
// certificate with the fingerprint fp, and helen pins that one.
func connectedWith(t testing.TB, h *testHelen, name, fp string) {
	t.Helper()
	poll(t, name+" connected with "+fp, func() bool {
		ss, ok := h.srv.hub.Session(name)
		a, err := h.srv.DB().Agent(name)
		return ok && ss.Fingerprint() == fp && err == nil && a.Connected && a.Fingerprint == fp && a.Pending == ""
	})
}

// TestRenewalRealAgent: a real agent connected to a real helen renews its
// certificate when two thirds of its life have passed on the clock they
// share, writes the new pair in place of the old with the same modes,
// reconnects with it, and helen then pins it and refuses the old one.
func TestRenewalRealAgent(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	h := startHelen(t, Config{Clock: clk, CertLifetime: time.Hour})
	a := startRealAgent(t, h, clk, "web-1")
	oldCertPEM, oldKeyPEM := a.files(t)
	old, err := tls.X509KeyPair(oldCertPEM, oldKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	connectedWith(t, h, "web-1", pki.Fingerprint(old.Leaf))
	if err := os.Chmod(a.certFile(), 0o640); err != nil {
		t.Fatal(err)
	}

	// Nothing happens before the time to renew.
	poll(t, "the agent waiting to renew", clk.HasWaiters)
	clk.SetTime(pki.RenewAt(old.Leaf).Add(-time.Minute))
	poll(t, "the agent waiting to renew again", clk.HasWaiters)
	if got := mustAgent(t, h, "web-1"); got.Pending != "" || got.Fingerprint != pki.Fingerprint(old.Leaf) {
		t.Fatalf("renewed early: %+v", got)
	}
	clk.SetTime(pki.RenewAt(old.Leaf))
	poll(t, "helen to pin a new certificate", func() bool {
		return mustAgent(t, h, "web-1").Fingerprint != pki.Fingerprint(old.Leaf)
	})
	fp := mustAgent(t, h, "web-1").Fingerprint
	connectedWith(t, h, "web-1", fp)

	onDisk, err := pki.LoadKeyPair(a.certFile(), a.keyFile())
	if err != nil {
		t.Fatal(err)
	}
	if pki.Fingerprint(onDisk.Leaf) != fp || onDisk.Leaf.Subject.CommonName != "web-1" {
		t.Fatalf("the files hold %s for %q, helen pins %s", pki.Fingerprint(onDisk.Leaf), onDisk.Leaf.Subject.CommonName, fp)
	}
	if !onDisk.Leaf.NotAfter.After(old.Leaf.NotAfter) {
		t.Errorf("the renewed certificate expires %v, not after the old one's %v", onDisk.Leaf.NotAfter, old.Leaf.NotAfter)
	}
	for path, want := range map[string]os.FileMode{a.certFile(): 0o640, a.keyFile(): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", filepath.Base(path), fi.Mode().Perm(), err, want)
		}
	}
	if _, err := os.Stat(a.certFile() + ".next"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a new certificate was left beside: %v", err)
	}
	if _, err := h.srv.Run(context.Background(), "web-1", "equus.ping", nil, waitFor); err != nil {
		t.Fatalf("a check over the renewed session: %v", err)
	}
	rc := dialRaw(t, h, &old, []string{wire.ALPN})
	rc.Write("hello 1 1.0.0\n")
	rc.ExpectClosedWith(wire.CodeNotAuthorized)
	if code, _, err := postRenew(t, h, &old, func() []byte { c, _ := newCSR(t, "web-1"); return c }()); err != nil || code != http.StatusForbidden {
		t.Errorf("renewal with the old certificate: %d, %v; want 403", code, err)
	}
}

// TestRenewalFailureKeepsCertificate: a renewal whose certificate cannot
// be written leaves the files and the agent's session as they were, is
// logged, and is tried again later, when it succeeds.
func TestRenewalFailureKeepsCertificate(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	h := startHelen(t, Config{Clock: clk, CertLifetime: time.Hour})
	a := startRealAgent(t, h, clk, "web-1")
	oldCertPEM, oldKeyPEM := a.files(t)
	old, err := tls.X509KeyPair(oldCertPEM, oldKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	oldFP := pki.Fingerprint(old.Leaf)
	connectedWith(t, h, "web-1", oldFP)
	// Where the new certificate is written first, a directory: the write
	// fails, even for root.
	blocker := filepath.Join(a.certFile()+".next", "x")
	if err := os.MkdirAll(blocker, 0o700); err != nil {
		t.Fatal(err)
	}
	poll(t, "the agent waiting to renew", clk.HasWaiters)
	clk.SetTime(pki.RenewAt(old.Leaf))
	poll(t, "the warning of a failed renewal", func() bool {
		return strings.Contains(a.logs.String(), "certificate renewal failed; keeping the current certificate")
	})
	certPEM, keyPEM := a.files(t)
	if !bytes.Equal(certPEM, oldCertPEM) || !bytes.Equal(keyPEM, oldKeyPEM) {
		t.Fatal("a failed renewal changed the certificate or key files")
	}
	// Helen issued a certificate that the agent never got to use: the old
	// one is still the agent's, and its session goes on.
	if got := mustAgent(t, h, "web-1"); got.Fingerprint != oldFP || got.Pending == "" {
		t.Fatalf("after the failed renewal: %+v", got)
	}
	if ss, ok := h.srv.hub.Session("web-1"); !ok || ss.Fingerprint() != oldFP {
		t.Fatal("the session of the old certificate did not go on")
	}
	if _, err := h.srv.Run(context.Background(), "web-1", "equus.ping", nil, waitFor); err != nil {
		t.Fatalf("a check after the failed renewal: %v", err)
	}
	// A new connection with the old certificate is still taken.
	h.srv.hub.Disconnect("web-1")
	poll(t, "the agent back with its old certificate", func() bool {
		ss, ok := h.srv.hub.Session("web-1")
		return ok && ss.Fingerprint() == oldFP
	})

	// Once the certificate can be written, the next attempt (after the
	// backoff, and no sooner than helen's interval between renewals)
	// renews.
	if err := os.RemoveAll(filepath.Dir(blocker)); err != nil {
		t.Fatal(err)
	}
	poll(t, "the agent waiting to try again", clk.HasWaiters)
	clk.Step(time.Minute)
	poll(t, "a renewal after the failure", func() bool {
		return mustAgent(t, h, "web-1").Fingerprint != oldFP
	})
	connectedWith(t, h, "web-1", mustAgent(t, h, "web-1").Fingerprint)
}

// TestExpiredAgent: an agent whose certificate has expired says so and how
// to enroll it again, and ends with ErrCertExpired, both when it finds it
// at start and when helen refuses it in the handshake; with a token made
// for its name, it enrolls again instead.
func TestExpiredAgent(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	h := startHelen(t, Config{Clock: clk, CertLifetime: time.Hour})
	first := startRealAgent(t, h, clk, "web-1")
	certPEM, _ := first.files(t)
	leaf, err := pki.ParseCertsPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	connectedWith(t, h, "web-1", pki.Fingerprint(leaf[0]))
	if err := first.wait(); err != nil {
		t.Fatal(err)
	}
	wantMsg := func(err error) {
		t.Helper()
		if !errors.Is(err, equus.ErrCertExpired) {
			t.Fatalf("Run = %v, want ErrCertExpired", err)
		}
		for _, s := range []string{"expired on " + leaf[0].NotAfter.UTC().Format("2006-01-02 15:04:05 UTC"),
			"equus helen token --agent web-1", "equus stage0 --token"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("the error does not say %q: %v", s, err)
			}
		}
	}
	cfg := equus.Config{Version: "1.0.0", Helens: []string{h.addr()}, CAPin: h.srv.CA().Pin(), DataDir: first.dir, Clock: clk}

	t.Run("at-start", func(t *testing.T) {
		clk.SetTime(leaf[0].NotAfter.Add(time.Second))
		a := runAgent(t, cfg)
		wantMsg(a.waitDone(t))
	})
	t.Run("handshake", func(t *testing.T) {
		// Valid by the agent's clock when it starts, expired by the time
		// it dials: helen refuses it in the handshake.
		agentClock := testingclock.NewFakeClock(leaf[0].NotAfter.Add(-time.Minute))
		c := cfg
		c.Clock = agentClock
		a := runAgent(t, c)
		poll(t, "the refused handshake", func() bool {
			logs := a.logs.String()
			return strings.Contains(logs, "session with helen ended") || strings.Contains(logs, "cannot reach helen")
		})
		agentClock.SetTime(leaf[0].NotAfter.Add(time.Second))
		wantMsg(a.waitDone(t))
	})
	t.Run("token", func(t *testing.T) {
		secret, _, err := h.srv.DB().CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour, Agent: "web-1"}, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Token = secret
		runAgent(t, c)
		poll(t, "the agent enrolled again", func() bool {
			a := mustAgent(t, h, "web-1")
			return a.Connected && a.Fingerprint != pki.Fingerprint(leaf[0])
		})
	})
}

// waitDone waits for Run to return on its own and returns its error.
func (a *realAgent) waitDone(t testing.TB) error {
	t.Helper()
	select {
	case err := <-a.done:
		close(a.done)
		return err
	case <-time.After(waitFor):
		t.Fatal("the agent did not end")
		return nil
	}
}
