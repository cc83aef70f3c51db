package helen

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/modes/equus"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// Names every entry point of an agent name is tried with. The empty name
// is not among the bad ones: to helen token --agent and the agent's --name
// it means "none given" (any name, the host name); agentname's own table
// refuses it.
var (
	badAgentNames = []string{
		"héllo", "web:1", strings.Repeat("b", 70), strings.Repeat("c", 65),
		".hidden", "-flag", "a b", "a/b", "../etc", "a\x1b[31m", "web-1\n", "a\u202eb",
	}
	goodAgentNames = []string{"a", "X.Y-z_0", "_db.example.com", strings.Repeat("n", 64)}
)

// equusCLI runs `equus equus ARGS...` (the agent) in process until it
// ends or ctx does, and returns what it printed on ending and its exit
// status. Its logs go to the test log.
func equusCLI(ctx context.Context, t testing.TB, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{
		Name:           "equus",
		Writer:         io.Discard,
		ErrWriter:      logtest.Writer{T: t},
		ExitErrHandler: func(*cli.Context, error) {},
		Flags:          setup.GlobalFlags(),
		Commands:       []*cli.Command{equus.Command("1.0.0")},
	}
	err := app.RunContext(ctx, append([]string{"equus", "equus"}, args...))
	code := setup.ExitCode(&out, err)
	return out.String(), code
}

// TestAgentNameRule: helen token --agent, helen issue, revoke and forget, the
// agent's --name, the store, enrollment, the CA and the certificate an
// agent says hello with refuse the same bad names with agentname's error,
// and take the same good ones; a token for a good name enrolls a real
// agent under it, which connects.
func TestAgentNameRule(t *testing.T) {
	h := startHelen(t, server.Config{})
	db := h.srv.DB()
	data := "--data=" + h.dir
	pin := h.srv.CA().Pin()
	anyName, anyTok, err := db.CreateToken(state.TokenSpec{Uses: 1000, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hc := httpsClient(t, h, nil)

	for _, name := range badAgentNames {
		want := agentname.Check(name).Error()
		t.Run(strings.ToValidUTF8(name, "?"), func(t *testing.T) {
			// The commands, as people type them; "--" keeps "-flag" an
			// argument.
			out := t.TempDir()
			commands := map[string][]string{
				"helen token --agent": {"token", data, "--agent=" + name},
				"helen issue":         {"issue", data, "--out=" + out, "--", name},
				"helen revoke":        {"revoke", data, "--", name},
				"helen forget":        {"forget", data, "--", name},
			}
			for what, args := range commands {
				if got, code := helenCLI(t, args...); code == 0 || !strings.Contains(got, want) {
					t.Errorf("%s %q: exit %d, %q; want an error holding %q", what, name, code, got, want)
				}
			}
			if files, _ := os.ReadDir(out); len(files) != 0 {
				t.Errorf("helen issue %q wrote %d files", name, len(files))
			}
			got, code := equusCLI(context.Background(), t, "--helen="+h.addr(), "--ca-pin="+pin, "--token="+anyName, "--name="+name, "--data="+t.TempDir())
			if code == 0 || !strings.Contains(got, "--name: "+want) {
				t.Errorf("equus --name %q: exit %d, %q; want an error holding %q", name, code, got, want)
			}

			// The store, the CA.
			now := time.Now()
			_, _, errToken := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour, Agent: name}, now)
			store := map[string]error{
				"CreateToken":  errToken,
				"Enroll":       db.Enroll(anyName, state.Agent{Name: name}, now),
				"AgentSeen":    db.AgentSeen(state.Agent{Name: name}),
				"Revoke":       db.Revoke(name, now),
				"PinCert":      db.PinCert(name, "sha256:00", now),
				"SetAgentDown": db.SetAgentDown(name, now),
				"Forget":       db.Forget(name, now),
			}
			for what, err := range store {
				if !errors.Is(err, state.ErrInvalid) || !strings.Contains(fmtErr(err), want) {
					t.Errorf("state %s(%q) = %v; want ErrInvalid holding %q", what, name, err, want)
				}
			}
			_, _, errIssue := h.srv.CA().IssueClient(name, now)
			_, _, errCSR := pki.NewCSR(name)
			for what, err := range map[string]error{"IssueClient": errIssue, "NewCSR": errCSR} {
				if !errors.Is(err, pki.ErrBadName) || !strings.Contains(fmtErr(err), want) {
					t.Errorf("pki %s(%q) = %v; want ErrBadName holding %q", what, name, err, want)
				}
			}

			// Enrollment with a request made for the name by hand, as
			// NewCSR refuses to: refused, and the token spends nothing.
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
			if err != nil {
				t.Fatal(err)
			}
			csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
			code, msg := enrollRefusal(t, hc, h, anyName, csr)
			if code != http.StatusBadRequest || !strings.Contains(msg, want) {
				t.Errorf("enroll %q: %d %q; want 400 holding %q", name, code, msg, want)
			}

			// Hello with a certificate of helen's CA made for the name
			// some other way: the handshake verifies, the name does not.
			cert := certSignedFor(t, h.srv.CA(), name, key)
			rc := dialRaw(t, h, cert, []string{wire.ALPN})
			rc.Write("hello 1 1.0.0\n")
			rc.ExpectClosedWith(wire.CodeNotAuthorized)
			if _, err := db.Agent(name); !errors.Is(err, state.ErrNotFound) {
				t.Errorf("agent %q recorded: %v", name, err)
			}
		})
	}
	toks, err := db.Tokens()
	for _, tok := range toks {
		if tok.ID == anyTok.ID && tok.Used != 0 {
			t.Errorf("the bad names spent %d uses of their token", tok.Used)
		}
	}
	if err != nil || len(toks) != 1 {
		t.Errorf("tokens after the bad names: %v %+v; want the one the test made", err, toks)
	}

	for _, name := range goodAgentNames {
		t.Run(name[:min(len(name), 10)], func(t *testing.T) {
			got, code := helenCLI(t, "token", data, "--json", "--agent="+name)
			var tok web.TokenResponse
			if err := json.Unmarshal([]byte(got), &tok); code != 0 || err != nil || tok.Agent != name {
				t.Fatalf("helen token --agent %s: exit %d, %v: %s", name, code, err, got)
			}
			// The real agent, from its command line, enrolls and
			// connects under the name.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan string, 1)
			go func() {
				out, code := equusCLI(ctx, t, "--helen="+h.addr(), "--ca-pin="+pin, "--token="+tok.Token, "--name="+name, "--data="+t.TempDir())
				done <- fmt.Sprintf("exit %d %s", code, strings.TrimSpace(out))
			}()
			poll(t, name+" connected", func() bool {
				a, err := db.Agent(name)
				return err == nil && a.Connected
			})
			cancel()
			t.Logf("agent %s ended: %s", name, <-done)

			out := t.TempDir()
			if got, code := helenCLI(t, "issue", data, "--out="+out, name); code != 0 {
				t.Errorf("helen issue %s: exit %d: %s", name, code, got)
			}
			if _, err := os.Stat(filepath.Join(out, name+".pem")); err != nil {
				t.Error(err)
			}
			if got, code := helenCLI(t, "revoke", data, name); code != 0 {
				t.Errorf("helen revoke %s: exit %d: %s", name, code, got)
			}
		})
	}
}

// fmtErr is err's message, "" for nil.
func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// enrollRefusal posts an enrollment and returns the status and the error
// helen answered with.
func enrollRefusal(t *testing.T, hc *http.Client, h *testHelen, token string, csr []byte) (int, string) {
	t.Helper()
	body, err := json.Marshal(pki.EnrollRequest{Token: token, CSR: string(csr)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Post("https://"+h.addr()+"/v1/enroll", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var er pki.EnrollResponse
	json.NewDecoder(resp.Body).Decode(&er)
	return resp.StatusCode, er.Error
}

// certSignedFor makes a client certificate of ca for name with key,
// without the checks of IssueClient.
func certSignedFor(t *testing.T, ca *pki.CA, name string, key *ecdsa.PrivateKey) *tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
