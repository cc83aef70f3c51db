package equus

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/wire"
)

// enrollServer is helen's enrollment endpoint over TLS on 127.0.0.1,
// accepting the token "good-token".
type enrollServer struct {
	*httptest.Server
	requests atomic.Int32
}

func startEnrollServer(t *testing.T, p *testPKI) *enrollServer {
	t.Helper()
	s := &enrollServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/enroll", func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		var req pki.EnrollRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if req.Token != "good-token" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "token refused"})
			return
		}
		cert, name, err := p.ca.SignCSR([]byte(req.CSR), time.Now())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"name": name, "cert": string(cert), "ca": string(p.ca.CertPEM)})
	})
	s.Server = httptest.NewUnstartedServer(mux)
	// The pin's fetch of the CA ends in a refused handshake by design.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.TLS = pki.ServerConfig(p.ca, p.server, []string{"http/1.1"})
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *enrollServer) addr() string { return s.Listener.Addr().String() }

func TestEnroll(t *testing.T) {
	p := newTestPKI(t)
	for _, tc := range []struct {
		name        string
		caFile, pin bool
	}{
		{name: "pin", pin: true},
		{name: "ca-file", caFile: true},
		{name: "both", caFile: true, pin: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			es := startEnrollServer(t, p)
			cfg := Config{
				Version:    "0.0.0-dev",
				Helens:     []string{es.addr()},
				Token:      "good-token",
				Name:       "db-2",
				DataDir:    filepath.Join(t.TempDir(), "data"),
				BackoffMin: 10 * time.Millisecond,
				BackoffMax: 50 * time.Millisecond,
			}
			if tc.caFile {
				cfg.CAFile = p.caFile
			}
			if tc.pin {
				cfg.CAPin = p.ca.Pin()
			}
			a := startAgent(t, cfg)
			poll(t, "enrollment", func() bool { return a.log.contains("msg=enrolled") })
			checkEnrolled(t, p, cfg.DataDir, "db-2")
			if n := es.requests.Load(); n != 1 {
				t.Errorf("%d enrollment requests, want 1", n)
			}
		})
	}
}

// checkEnrolled checks the files enrollment left in dir.
func checkEnrolled(t *testing.T, p *testPKI, dir, name string) {
	t.Helper()
	cert, err := pki.LoadKeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if cn := cert.Leaf.Subject.CommonName; cn != name {
		t.Errorf("certificate for %q, want %q", cn, name)
	}
	if err := cert.Leaf.CheckSignatureFrom(p.ca.Cert); err != nil {
		t.Errorf("certificate not signed by the CA: %v", err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, caFile))
	if err != nil || !bytes.Equal(ca, p.ca.CertPEM) {
		t.Errorf("saved CA differs from helen's (%v)", err)
	}
	for _, f := range []string{certFile, keyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", f, mode)
		}
	}
}

func TestEnrollRefused(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	es := startEnrollServer(t, p)
	dir := filepath.Join(t.TempDir(), "data")
	a := startAgent(t, Config{
		Version:    "0.0.0-dev",
		Helens:     []string{es.addr()},
		CAPin:      p.ca.Pin(),
		Token:      "bad-token",
		Name:       "db-2",
		DataDir:    dir,
		BackoffMin: 10 * time.Millisecond,
	})
	err := a.wait(t)
	if !errors.Is(err, ErrTokenRefused) {
		t.Fatalf("Run = %v, want ErrTokenRefused", err)
	}
	t.Logf("error: %v", err)
	if n := es.requests.Load(); n != 1 {
		t.Errorf("%d enrollment requests, want 1", n)
	}
	if enrolled(dir) {
		t.Error("refused enrollment left a certificate")
	}
}

func TestEnrollWrongPin(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	other := newTestPKI(t)
	es := startEnrollServer(t, p)
	a := startAgent(t, Config{
		Version:    "0.0.0-dev",
		Helens:     []string{es.addr()},
		CAPin:      other.ca.Pin(),
		Token:      "good-token",
		Name:       "db-2",
		DataDir:    t.TempDir(),
		BackoffMin: 10 * time.Millisecond,
		BackoffMax: 20 * time.Millisecond,
	})
	poll(t, "a failed attempt", func() bool { return a.log.count("enrollment failed") >= 2 })
	if n := es.requests.Load(); n != 0 {
		t.Errorf("%d enrollment requests sent to a helen that does not match the pin", n)
	}
}

// TestEnrolledRestart enrolls, then starts again with only the pin and a
// token helen would refuse: the saved certificate is used, the token
// ignored.
func TestEnrolledRestart(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	es := startEnrollServer(t, p)
	dir := filepath.Join(t.TempDir(), "data")
	cfg := Config{
		Version: "0.0.0-dev",
		Helens:  []string{es.addr()},
		CAPin:   p.ca.Pin(),
		Token:   "good-token",
		Name:    "db-2",
		DataDir: dir,
	}
	first := startAgent(t, cfg)
	poll(t, "enrollment", func() bool { return first.log.contains("msg=enrolled") })
	first.cancel()
	if err := first.wait(t); err != nil {
		t.Fatal(err)
	}

	h := startHelen(t, p)
	cfg.Helens = []string{h.addr()}
	cfg.Token = "bad-token"
	startAgent(t, cfg)
	hc := h.accept()
	hc.send(wire.Check("equus.ping", 1, nil))
	parseResult(t, hc.next(), 1, "equus.ping")
	if n := es.requests.Load(); n != 1 {
		t.Errorf("%d enrollment requests, want 1", n)
	}
	if name, err := pki.AgentName(hc.c.(interface {
		ConnectionState() tls.ConnectionState
	}).ConnectionState()); err != nil || name != "db-2" {
		t.Errorf("helen sees agent %q (%v)", name, err)
	}
}

// An agent of two helens, the first of which refuses connections,
// enrolls with the other, with its CA fetched there by the pin.
func TestEnrollAnyHelen(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	es := startEnrollServer(t, p)
	dir := filepath.Join(t.TempDir(), "data")
	gone := refusing(t)
	a := startAgent(t, Config{
		Version:    "0.0.0-dev",
		Helens:     []string{gone, es.addr()},
		CAPin:      p.ca.Pin(),
		Token:      "good-token",
		Name:       "db-2",
		DataDir:    dir,
		BackoffMin: 10 * time.Millisecond,
		BackoffMax: 20 * time.Millisecond,
		onRotation: inOrder,
	})
	poll(t, "enrolled at the second helen", func() bool { return enrolled(dir) })
	if !a.log.contains("enrollment failed, will retry") || !a.log.contains("helen="+gone) {
		t.Error("the agent did not try the first helen")
	}
}
