package pki

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"
)

// TestSessionCacheKeepsThroughBrokenHandshake resumes a session with a
// server after a handshake that a server closing the connection broke,
// and does not after one the server refused with a TLS alert.
func TestSessionCacheKeepsThroughBrokenHandshake(t *testing.T) {
	ca := testCA(t, "helen test CA")
	cert, err := ca.IssueServer([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, ServerConfig(ca, cert, []string{"equus/1"}))
	client := testClientCert(t, ca, "web-1", time.Now())
	cfg, err := ClientConfig(Trust{CA: ca.Cert}, "127.0.0.1", &client, []string{"equus/1"})
	if err != nil {
		t.Fatal(err)
	}
	cache := NewSessionCache(4)
	cfg.ClientSessionCache = cache

	// A port that takes the ClientHello and closes, as a helen stopping.
	closer := startCloser(t, func(c net.Conn) {
		c.Read(make([]byte, 1))
		c.Close()
	})
	// A TLS server without the client's CA: it refuses the certificate
	// with an alert.
	other := testCA(t, "another CA")
	otherCert, err := other.IssueServer([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	refusing := ServerConfig(other, otherCert, []string{"equus/1"})

	dial := func(addr string) (tls.ConnectionState, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", addr)
		if err != nil {
			cache.Failed(err)
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := c.(*tls.Conn)
		buf := make([]byte, 16)
		_, err = tc.Read(buf) // the server's name line, after the ticket
		return tc.ConnectionState(), err
	}
	if st, err := dial(srv.addr); err != nil || st.DidResume {
		t.Fatalf("first dial: resumed %v, %v; want a whole handshake", st.DidResume, err)
	}
	srv.next(t)
	// The session ticket goes to the cache under the server's name; the
	// closer has the same.
	if _, err := dial(closer); !connectionBroke(err) {
		t.Fatalf("dial of the closing port: %v, want the connection broken", err)
	}
	st, err := dial(srv.addr)
	if err != nil || !st.DidResume {
		t.Fatalf("after a broken handshake: resumed %v, %v; want resumed", st.DidResume, err)
	}
	srv.next(t)

	// Refused by TLS: the session goes.
	refuser := startServer(t, refusing)
	if _, err := dial(refuser.addr); err == nil || connectionBroke(err) {
		t.Fatalf("dial of the refusing server: %v, want a TLS error", err)
	}
	refuser.next(t)
	if st, err := dial(srv.addr); err != nil || st.DidResume {
		t.Fatalf("after a refused handshake: resumed %v, %v; want a whole one", st.DidResume, err)
	}
	srv.next(t)
}

// startCloser serves a TCP port on 127.0.0.1 with serve.
func startCloser(t *testing.T, serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Error(err)
				}
				return
			}
			serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}
