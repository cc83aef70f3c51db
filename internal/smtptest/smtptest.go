// Package smtptest runs an SMTP server (go-smtp) on loopback for a test,
// with STARTTLS under the test's certificate, a login and refusals as the
// test asks, and keeps the messages it takes.
package smtptest

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options say what the server offers and refuses. The zero value offers
// neither STARTTLS nor a login, and takes every message.
type Options struct {
	// TLS, when not nil, is offered with STARTTLS.
	TLS *tls.Config
	// Login, when not nil, offers AUTH PLAIN (over TLS only) and accepts
	// the logins for which it returns nil.
	Login func(user, password string) error
	// Refuse, when it returns an error for a command ("MAIL", "RCPT
	// bob@example.com", "DATA"), refuses the command with that error.
	Refuse func(cmd string) error
}

// Message is a message the server took.
type Message struct {
	From string
	To   []string
	Data []byte
	// TLS reports whether it came over TLS.
	TLS bool
}

// Server is an SMTP server on loopback until the test ends.
type Server struct {
	// Addr is where it listens, host:port.
	Addr string
	opts Options

	mu       sync.Mutex
	messages []Message
	logins   []string // user:password, each tried
}

// Bounds of the server's, so that a client gone wrong cannot hold a test.
const (
	timeout         = 10 * time.Second
	maxMessageBytes = 1 << 20
)

// Start runs a server on a free loopback port until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	srv := &Server{opts: o}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: srv, c: c}, nil
	}))
	s.Domain = "mail.test"
	s.ReadTimeout, s.WriteTimeout = timeout, timeout
	s.MaxMessageBytes = maxMessageBytes
	s.TLSConfig = o.TLS
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Addr = l.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	t.Cleanup(func() { s.Close(); <-done })
	return srv
}

// Messages returns the messages taken, in order.
func (srv *Server) Messages() []Message {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]Message(nil), srv.messages...)
}

// Logins returns the logins tried, as user:password, in order.
func (srv *Server) Logins() []string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]string(nil), srv.logins...)
}

func (srv *Server) check(cmd string) error {
	if srv.opts.Refuse == nil {
		return nil
	}
	return srv.opts.Refuse(cmd)
}

// session is one connection's transaction.
type session struct {
	srv  *Server
	c    *smtp.Conn
	from string
	to   []string
}

func (s *session) AuthMechanisms() []string {
	if s.srv.opts.Login == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.srv.opts.Login == nil {
		return nil, smtp.ErrAuthUnsupported
	}
	return sasl.NewPlainServer(func(identity, user, password string) error {
		s.srv.mu.Lock()
		s.srv.logins = append(s.srv.logins, user+":"+password)
		s.srv.mu.Unlock()
		if err := s.srv.opts.Login(user, password); err != nil {
			return smtp.ErrAuthFailed
		}
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return s.srv.check("MAIL")
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.srv.check("RCPT " + to); err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := s.srv.check("DATA"); err != nil {
		return err
	}
	_, tlsOn := s.c.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.messages = append(s.srv.messages, Message{From: s.from, To: s.to, Data: b, TLS: tlsOn})
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
