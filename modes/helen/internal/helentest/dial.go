package helentest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/wire"
)

// WaitFor is how long a test waits for something that should happen.
const WaitFor = 10 * time.Second

// AgentCert issues an agent certificate from helen's CA.
func AgentCert(t testing.TB, ca *pki.CA, name string) *tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueClient(name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &cert
}

// DialTLS connects to the agents' port at addr trusting helen's CA,
// presenting cert (none when nil) and offering alpn.
func DialTLS(t testing.TB, addr string, ca *pki.CA, cert *tls.Certificate, alpn []string) (*tls.Conn, error) {
	t.Helper()
	cfg, err := pki.ClientConfig(pki.Trust{CA: ca.Cert}, "127.0.0.1", cert, alpn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), WaitFor)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

// RawConn is a client that writes bytes of its choosing and reads what
// helen answers, for the cases a well-behaved agent never provokes.
type RawConn struct {
	t testing.TB
	C *tls.Conn
}

// DialRaw connects like DialTLS, failing the test if it cannot.
func DialRaw(t testing.TB, addr string, ca *pki.CA, cert *tls.Certificate, alpn []string) *RawConn {
	t.Helper()
	c, err := DialTLS(t, addr, ca, cert, alpn)
	if err != nil {
		t.Fatalf("dial helen: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(WaitFor))
	return &RawConn{t: t, C: c}
}

// Write sends s as it is. An error is not fatal: helen may have closed the
// connection already, and what it said is what the test looks at.
func (rc *RawConn) Write(s string) {
	if _, err := io.WriteString(rc.C, s); err != nil {
		rc.t.Logf("write: %v", err)
	}
}

// ReadAll returns everything helen sends until it closes the connection.
func (rc *RawConn) ReadAll() ([]byte, error) {
	return io.ReadAll(rc.C)
}

// ExpectClosedWith checks that helen sent, after any checks, exactly
// "error <code>\n" and then closed the connection.
func (rc *RawConn) ExpectClosedWith(code wire.Code) {
	rc.t.Helper()
	got, err := rc.ReadAll()
	if err != nil {
		rc.t.Fatalf("read until close: %v (got %q)", err, got)
	}
	if err := CheckErrorEnding(got, code); err != nil {
		rc.t.Fatal(err)
	}
}

// CheckErrorEnding reports whether data is zero or more check messages
// followed by exactly "error <code>\n".
func CheckErrorEnding(data []byte, code wire.Code) error {
	want := "error " + string(code) + "\n"
	if !strings.HasSuffix(string(data), want) {
		return fmt.Errorf("helen sent %q, want it to end with %q", data, want)
	}
	r := wire.NewReader(strings.NewReader(string(data)))
	for {
		m, err := r.Read()
		if err != nil {
			return fmt.Errorf("helen sent %q: %v", data, err)
		}
		if m.Kind == wire.KindError {
			if _, err := r.Read(); !errors.Is(err, io.EOF) {
				return fmt.Errorf("helen sent %q: more after the error", data)
			}
			return nil
		}
		if m.Kind != wire.KindCheck {
			return fmt.Errorf("helen sent %q: a %s before the error", data, m.Kind)
		}
	}
}

// NewRawConn is a RawConn over c, a connection dialled otherwise.
func NewRawConn(t testing.TB, c *tls.Conn) *RawConn { return &RawConn{t: t, C: c} }

// HTTPSClient is a client of the agents' HTTPS endpoints that trusts
// helen's CA and presents cert (none when nil).
func HTTPSClient(t testing.TB, ca *pki.CA, cert *tls.Certificate) *http.Client {
	t.Helper()
	cfg, err := pki.ClientConfig(pki.Trust{CA: ca.Cert}, "127.0.0.1", cert, []string{"http/1.1"})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: WaitFor}
}

// Get fetches path from the agents' port at addr with hc and returns the
// status and body.
func Get(t testing.TB, hc *http.Client, addr, path string) (int, []byte) {
	t.Helper()
	resp, err := hc.Get("https://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}
