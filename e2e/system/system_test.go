package system

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestJoinRunHistory joins an agent with a token and runs checks on it
// through the helen commands.
func TestJoinRunHistory(t *testing.T) {
	h := startHelen(t, t.TempDir(), freePort(t), freePort(t))
	startAgent(t, h, "web-1", t.TempDir())
	a := h.waitConnected(t, "web-1", 30*time.Second)
	if a.Version != "0.0.0-dev" {
		t.Errorf("agent version %q, want 0.0.0-dev", a.Version)
	}

	out, code := run(t, "helen", "run", "--data", h.data, "web-1", "equus.ping")
	if code != 0 || strings.TrimSpace(out) != "OK: pong" {
		t.Fatalf("helen run equus.ping: exit %d, %q", code, out)
	}
	out, code = run(t, "helen", "run", "--data", h.data, "web-1", "disk", `{"path":"/"}`, "--json")
	var doc struct {
		Status  string
		Message string
		Metrics []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("helen run disk --json: %v: %q", err, out)
	}
	wantCode := map[string]int{"ok": 0, "warning": 1, "critical": 2, "unknown": 3}[doc.Status]
	if code != wantCode || doc.Status == "unknown" || len(doc.Metrics) == 0 {
		t.Fatalf("disk check: exit %d for %+v", code, doc)
	}
	out, code = run(t, "helen", "run", "--data", h.data, "web-1", "no-such-check")
	if code != 3 || !strings.HasPrefix(out, "UNKNOWN: ") {
		t.Errorf("unknown check: exit %d, %q", code, out)
	}
	out, code = run(t, "helen", "run", "--data", h.data, "nobody", "equus.ping")
	if code != 3 || !strings.Contains(out, "not connected") {
		t.Errorf("agent not connected: exit %d, %q", code, out)
	}

	out, code = run(t, "helen", "history", "--data", h.data, "web-1", "--json", "--limit", "50")
	if code != 0 {
		t.Fatalf("helen history: exit %d: %s", code, out)
	}
	var hist []struct{ Check, Status string }
	if err := json.Unmarshal([]byte(out), &hist); err != nil {
		t.Fatalf("history --json: %v: %s", err, out)
	}
	seen := map[string]bool{}
	for _, r := range hist {
		seen[r.Check] = true
	}
	// equus.ping is not kept: a ping only shows the connection is alive.
	for _, c := range []string{"disk", "no-such-check", "equus.info"} {
		if !seen[c] {
			t.Errorf("history lacks %s: %+v", c, hist)
		}
	}
	out, code = run(t, "helen", "history", "--data", h.data, "web-1", "disk")
	if code != 0 || !strings.Contains(out, "disk") || !strings.Contains(out, "STATUS") {
		t.Errorf("history for people: exit %d:\n%s", code, out)
	}
}

// TestHelenRestart restarts helen under a running agent, which must come
// back by itself.
func TestHelenRestart(t *testing.T) {
	data, listen, httpAddr := t.TempDir(), freePort(t), freePort(t)
	h := startHelen(t, data, listen, httpAddr)
	startAgent(t, h, "db-1", t.TempDir())
	h.waitConnected(t, "db-1", 30*time.Second)

	h.stop()
	if out, code := run(t, "helen", "agents", "--data", data, "--json"); code != 0 || strings.Contains(out, `"connected": true`) {
		t.Fatalf("offline agents after helen stopped: exit %d: %s", code, out)
	}
	h = startHelen(t, data, listen, httpAddr)
	h.waitConnected(t, "db-1", 60*time.Second)
	if out, code := run(t, "helen", "run", "--data", data, "db-1", "equus.ping"); code != 0 {
		t.Fatalf("ping after restart: exit %d: %s", code, out)
	}
}

// TestKillKeepsAcknowledged kills helen with SIGKILL while results pour in:
// every result that `helen run` printed must be in the database after.
func TestKillKeepsAcknowledged(t *testing.T) {
	data := t.TempDir()
	h := startHelen(t, data, freePort(t), freePort(t))
	startAgent(t, h, "app-1", t.TempDir())
	h.waitConnected(t, "app-1", 30*time.Second)

	var acked atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				out, code := run(t, "helen", "run", "--data", data, "app-1", "uptime", "--timeout", "5s")
				if code == 0 && strings.HasPrefix(out, "OK: ") {
					acked.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for acked.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	h.kill()
	close(stop)
	wg.Wait()
	n := acked.Load()
	if n == 0 {
		t.Fatal("no run acknowledged before the kill")
	}
	// helen is gone: history opens the database itself.
	out, code := run(t, "helen", "history", "--data", data, "app-1", "uptime", "--limit", "100000", "--json")
	if code != 0 {
		t.Fatalf("offline history after SIGKILL: exit %d: %s", code, out)
	}
	var hist []struct{ Status string }
	if err := json.Unmarshal([]byte(out), &hist); err != nil {
		t.Fatalf("history: %v", err)
	}
	ok := 0
	for _, r := range hist {
		if r.Status == "ok" {
			ok++
		}
	}
	t.Logf("%d runs acknowledged before SIGKILL, %d ok results on disk", n, ok)
	if int64(ok) < n {
		t.Fatalf("lost acknowledged results: %d acknowledged, %d on disk", n, ok)
	}
}

// TestRevoke revokes a connected agent: its connection closes and it is
// refused from then on.
func TestRevoke(t *testing.T) {
	h := startHelen(t, t.TempDir(), freePort(t), freePort(t))
	agent := startAgent(t, h, "old-1", t.TempDir())
	h.waitConnected(t, "old-1", 30*time.Second)
	if out, code := run(t, "helen", "revoke", "--data", h.data, "old-1"); code != 0 {
		t.Fatalf("revoke: exit %d: %s", code, out)
	}
	agent.waitOutput("not_authorized", 30*time.Second)
	for _, a := range h.agents(t) {
		if a.Name == "old-1" && (a.Connected || !a.Revoked) {
			t.Errorf("after revoke: %+v", a)
		}
	}
}

// TestReenroll: a second machine cannot join under an enrolled agent's
// name with an ordinary token; with a token made for that name it can, and
// the first machine's certificate is then cut off.
func TestReenroll(t *testing.T) {
	h := startHelen(t, t.TempDir(), freePort(t), freePort(t))
	first := startAgent(t, h, "web-1", t.TempDir())
	h.waitConnected(t, "web-1", 30*time.Second)

	out, code := run(t, "equus", "--helen", h.listen, "--ca-pin", h.pin, "--token", h.token(t, 1), "--name", "web-1", "--data", t.TempDir())
	if code == 0 || !strings.Contains(out, "enrolled already") || !strings.Contains(out, "equus helen token --agent web-1") {
		t.Fatalf("a second machine joining as web-1 with an ordinary token: exit %d:\n%s", code, out)
	}

	out, code = run(t, "helen", "token", "--data", h.data, "--agent", "web-1", "--json")
	var tok struct{ Token, Agent, Join string }
	if err := json.Unmarshal([]byte(out), &tok); code != 0 || err != nil || tok.Agent != "web-1" || !strings.HasSuffix(tok.Join, "--name web-1") {
		t.Fatalf("helen token --agent web-1: exit %d, %v: %s", code, err, out)
	}
	second := start(t, "agent web-1 again", "equus", "--helen", h.listen, "--ca-pin", h.pin,
		"--token", tok.Token, "--name", "web-1", "--data", t.TempDir())
	second.waitOutput("enrolled", 30*time.Second)
	first.waitOutput("not_authorized", 30*time.Second)
	first.waitOutput("replaced the certificate", 5*time.Second)
	h.waitConnected(t, "web-1", 30*time.Second)
	if out, code := run(t, "helen", "run", "--data", h.data, "web-1", "equus.ping"); code != 0 {
		t.Fatalf("run on the enrolled machine: exit %d: %s", code, out)
	}
	if strings.Contains(second.output(), "not_authorized") {
		t.Errorf("the re-enrolled machine was refused:\n%s", second.output())
	}
}

// TestCertRenewal: with helen issuing certificates for a few seconds, an
// agent renews its certificate before each expires and stays with helen
// well past the first one's end.
func TestCertRenewal(t *testing.T) {
	h := startHelen(t, t.TempDir(), freePort(t), freePort(t), "--cert-lifetime", "6s")
	data := t.TempDir()
	agent := startAgent(t, h, "web-1", data)
	first := h.waitConnected(t, "web-1", 30*time.Second)
	leaf := readLeaf(t, filepath.Join(data, "agent.pem"))
	if leaf.NotAfter.Sub(leaf.NotBefore) > 8*time.Second {
		t.Fatalf("--cert-lifetime 6s issued a certificate valid from %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	// Past the first certificate's end, and renewed at least twice.
	seen := map[string]bool{first.Fingerprint: true}
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < 3 || !time.Now().After(leaf.NotAfter) {
		if time.Now().After(deadline) {
			t.Fatalf("certificates seen by %v: %v", time.Now(), seen)
		}
		for _, a := range h.agents(t) {
			if a.Name == "web-1" && a.Fingerprint != "" {
				seen[a.Fingerprint] = true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.waitConnected(t, "web-1", 30*time.Second)
	if out, code := run(t, "helen", "run", "--data", h.data, "web-1", "equus.ping"); code != 0 {
		t.Fatalf("run after the renewals: exit %d: %s", code, out)
	}
	if strings.Contains(agent.output(), "not_authorized") || strings.Contains(agent.output(), "renewal failed") {
		t.Errorf("the agent was refused or failed to renew:\n%s", agent.output())
	}
	agent.waitOutput("certificate renewed; reconnecting with it", time.Second)
}

// TestExpiredCertificate: an agent, or stage0, whose certificate has
// expired exits with status 4 and says how to enroll it again.
func TestExpiredCertificate(t *testing.T) {
	h := startHelen(t, t.TempDir(), freePort(t), freePort(t), "--cert-lifetime", "1s")
	out := t.TempDir()
	if o, code := run(t, "helen", "issue", "--data", h.data, "exp-1", "--out", out); code != 0 {
		t.Fatalf("helen issue: exit %d: %s", code, o)
	}
	cert, key, ca := filepath.Join(out, "exp-1.pem"), filepath.Join(out, "exp-1-key.pem"), filepath.Join(out, "ca.pem")
	leaf := readLeaf(t, cert)
	for !time.Now().After(leaf.NotAfter.Add(time.Second)) {
		time.Sleep(100 * time.Millisecond)
	}
	o, code := run(t, "equus", "--helen", h.listen, "--ca", ca, "--cert", cert, "--key", key)
	if code != 4 || !strings.Contains(o, "expired on ") || !strings.Contains(o, "equus helen issue exp-1") {
		t.Fatalf("agent with an expired certificate: exit %d, want 4:\n%s", code, o)
	}

	data := t.TempDir()
	for from, to := range map[string]string{cert: "agent.pem", key: "agent-key.pem", ca: "ca.pem"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o, code = run(t, "stage0", "--helen", h.listen, "--data", data)
	if code != 4 || !strings.Contains(o, "equus helen token --agent exp-1") || !strings.Contains(o, "stage0 stops rather than restart it") {
		t.Fatalf("stage0 with an expired certificate: exit %d, want 4:\n%s", code, o)
	}
}

// readLeaf reads the first certificate of a PEM file.
func readLeaf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
