package server

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/internal/helentest"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// TestProtocolErrors provokes every error code helen sends, each from a raw
// client over real TLS, while another agent stays connected and working.
func TestProtocolErrors(t *testing.T) {
	h := startHelen(t, Config{HelloTimeout: 2 * time.Second})
	steady := startAgent(t, h, "steady", behavior{})
	steady.Ready()
	if err := h.srv.DB().Revoke("gone", time.Now()); err != nil {
		t.Fatal(err)
	}

	const hello = "hello 1 1.0.0\n"
	tests := []struct {
		name  string
		agent string // the certificate's name; "" for none
		alpn  []string
		send  string
		want  wire.Code
	}{
		{"hello-too-few-tokens", "a", nil, "hello 1\n", wire.CodeBadCommand},
		{"result-too-few-tokens", "a", nil, hello + "result 1 equus.info\n", wire.CodeBadCommand},
		{"second-hello", "a", nil, hello + hello, wire.CodeBadCommand},
		{"check-from-agent", "a", nil, hello + "check load 7 0\n\n", wire.CodeBadCommand},
		{"reload-from-agent", "a", nil, hello + "reload\n", wire.CodeBadCommand},
		{"error-from-agent", "a", nil, hello + "error oops\n", wire.CodeBadCommand},
		{"empty-line", "a", nil, hello + "\n", wire.CodeBadCommand},
		{"unknown-command", "a", nil, hello + "frobnicate 1\n", wire.CodeUnknownCommand},
		{"unknown-command-first", "a", nil, "frobnicate\n", wire.CodeUnknownCommand},
		{"hello-bad-version", "a", nil, "hello 1 not-a-version\n", wire.CodeBadArgument},
		{"hello-bad-protocol", "a", nil, "hello one 1.0.0\n", wire.CodeBadArgument},
		{"leading-zero-id", "a", nil, hello + "result 01 equus.info 2\n{}\n", wire.CodeBadArgument},
		{"id-too-large", "a", nil, hello + "result 2147483648 equus.info 2\n{}\n", wire.CodeBadArgument},
		{"line-too-long", "a", nil, hello + "result " + strings.Repeat("9", 5000) + "\n", wire.CodeLineTooLong},
		{"blob-too-large", "a", nil, hello + "result 1 equus.info 1048577\n", wire.CodeBlobTooLarge},
		{"bad-blob-terminator", "a", nil, hello + "result 1 equus.info 2\n{}X\n", wire.CodeBadBlobTerminator},
		{"result-first", "a", nil, "result 1 load 2\n{}\n", wire.CodeBadHello},
		{"hello-timeout", "a", nil, "", wire.CodeHelloTimeout},
		{"protocol-2", "a", nil, "hello 2 1.0.0\n", wire.CodeUnsupportedProtocolVersion},
		{"no-cert-equus-alpn", "", []string{wire.ALPN}, hello, wire.CodeNotAuthorized},
		{"no-cert-no-alpn", "", nil, hello, wire.CodeNotAuthorized},
		{"revoked", "gone", []string{wire.ALPN}, hello, wire.CodeNotAuthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cert *tls.Certificate
			if tt.agent != "" {
				cert = agentCert(t, h.srv, tt.agent)
			}
			rc := dialRaw(t, h, cert, tt.alpn)
			start := time.Now()
			rc.Write(tt.send)
			rc.ExpectClosedWith(tt.want)
			if tt.want == wire.CodeHelloTimeout {
				// helen's clock starts when its side of the handshake
				// ends, which may be a little before the dial returns here.
				if took := time.Since(start); took < 2*time.Second-200*time.Millisecond {
					t.Errorf("hello_timeout after %s, want 2s", took)
				}
			}
			if doc := runCheck(t, h, "steady", "load", ""); doc.Status != result.OK {
				t.Fatalf("steady agent after the error: %+v", doc)
			}
		})
	}
	if steady.Closed() {
		t.Fatal("the steady agent was disconnected")
	}
}

// TestOtherCARefused checks that a certificate from another CA gets no
// session: either the handshake is refused or helen says not_authorized.
func TestOtherCARefused(t *testing.T) {
	h := startHelen(t, Config{})
	other, err := pki.NewCA("other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := other.IssueClient("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialTLS(t, h, &cert, []string{wire.ALPN})
	if err != nil {
		return // refused in the handshake (TLS 1.2)
	}
	rc := helentest.NewRawConn(t, c)
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitFor))
	rc.Write("hello 1 1.0.0\n")
	got, err := rc.ReadAll()
	switch {
	case err != nil && len(got) == 0:
		// TLS 1.3: the client learns of the refusal on its first read.
		if !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("read: %v, want a certificate alert", err)
		}
	case err == nil:
		if cerr := checkErrorEnding(got, wire.CodeNotAuthorized); cerr != nil || len(got) != len("error not_authorized\n") {
			t.Fatalf("helen sent %q to an agent of another CA", got)
		}
	default:
		t.Fatalf("read: %v after %q", err, got)
	}
	if _, ok := h.srv.hub.Session("web-1"); ok {
		t.Fatal("an agent of another CA has a session")
	}
}

// TestShuttingDown checks that the agents connected when Serve's context
// ends are told shutting_down and closed, and that Serve returns.
func TestShuttingDown(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	b := startAgent(t, h, "web-2", behavior{})
	b.Ready()
	if err := h.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for _, ag := range []*fakeAgent{a, b} {
		ms, err := ag.WaitClosed()
		if last := lastMessage(ms); last.Kind != wire.KindError || last.Text != string(wire.CodeShuttingDown) || !endedCleanly(err) {
			t.Errorf("%s: last message %+v, end %v; want error shutting_down then the end", ag.Name(), last, err)
		}
	}
	agents, err := h.srv.DB().Agents()
	if err != nil {
		t.Fatal(err)
	}
	for _, ag := range agents {
		if ag.Connected {
			t.Errorf("%s still marked connected after shutdown", ag.Name)
		}
	}
}

// TestNoALPNGetsProtocol checks that a client offering no ALPN speaks the
// protocol, as an agent offering equus/1 does.
func TestNoALPNGetsProtocol(t *testing.T) {
	h := startHelen(t, Config{})
	for _, alpn := range [][]string{nil, {wire.ALPN}} {
		c, err := dialTLS(t, h, agentCert(t, h.srv, "web-1"), alpn)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ConnectionState().NegotiatedProtocol; got != strings.Join(alpn, "") {
			t.Errorf("ALPN %v: negotiated %q", alpn, got)
		}
		c.SetDeadline(time.Now().Add(waitFor))
		w := wire.NewWriter(c)
		w.Write(wire.Hello("1.0.0"))
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		m, err := wire.NewReader(c).Read()
		if err != nil || m.Kind != wire.KindCheck || m.Name != "equus.info" {
			t.Fatalf("ALPN %v: first message %+v, %v; want check equus.info", alpn, m, err)
		}
		c.Close()
	}
}
