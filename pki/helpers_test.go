package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// testCA makes an in-memory CA or fails the test.
func testCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := NewCA(name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// testClientCert issues an agent certificate at now and returns it ready
// for a tls.Config.
func testClientCert(t testing.TB, ca *CA, name string, now time.Time) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueClient(name, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// handshake is what the test server saw of one connection.
type handshake struct {
	state tls.ConnectionState
	err   error
}

// testServer is a TLS server on 127.0.0.1:0 that completes each handshake,
// reports it, writes the agent name (or "-") and closes the connection.
type testServer struct {
	addr  string
	seen  chan handshake
	ln    net.Listener
	wg    sync.WaitGroup
	conns sync.WaitGroup
}

func startServer(t testing.TB, cfg *tls.Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: ln.Addr().String(), seen: make(chan handshake, 16), ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go func() {
				defer s.conns.Done()
				s.serve(tls.Server(c, cfg))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
		s.conns.Wait()
	})
	return s
}

func (s *testServer) serve(c *tls.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	err := c.Handshake()
	st := c.ConnectionState()
	select {
	case s.seen <- handshake{state: st, err: err}:
	default:
	}
	if err != nil {
		return
	}
	name, err := AgentName(st)
	if err != nil {
		name = "-"
	}
	io.WriteString(c, name)
}

// next returns the server's view of the next handshake.
func (s *testServer) next(t testing.TB) handshake {
	t.Helper()
	select {
	case h := <-s.seen:
		return h
	case <-time.After(10 * time.Second):
		t.Fatal("no handshake seen by the server")
		return handshake{}
	}
}

// talk dials the server with cfg and returns what the server wrote. In TLS
// 1.3 the client's handshake ends before the server has checked the
// client's certificate, so a refusal shows up on the read.
func talk(t testing.TB, addr string, cfg *tls.Config) (string, tls.ConnectionState, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := c.(*tls.Conn)
	b, err := io.ReadAll(tc)
	return string(b), tc.ConnectionState(), err
}

// isVerifyError reports whether err is a certificate verification failure.
func isVerifyError(err error) bool {
	var verr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	return errors.As(err, &verr) || errors.As(err, &hostErr) || errors.As(err, &invalid) || errors.As(err, &unknown)
}
