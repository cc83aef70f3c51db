package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/equus-monitoring/equus/internal/smtptest"
	"github.com/equus-monitoring/equus/pki"
)

// mailbox is an SMTP server on loopback with STARTTLS under an in-test
// CA, and an Email that trusts the CA and sends to it.
type mailbox struct {
	*smtptest.Server
	ca *pki.CA
}

type mailboxOpts struct {
	noTLS bool
	// refuse, when it returns an error for a command ("MAIL", "RCPT
	// bob@example.com", "DATA"), refuses it with that error.
	refuse func(cmd string) error
}

// newMailbox starts a mailbox that takes the login helen:hunter2.
func newMailbox(t *testing.T, o mailboxOpts) *mailbox {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("mail test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServer([]string{"127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	so := smtptest.Options{Refuse: o.refuse, Login: func(user, password string) error {
		if user != "helen" || password != "hunter2" {
			return errors.New("wrong login")
		}
		return nil
	}}
	if !o.noTLS {
		so.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	return &mailbox{Server: smtptest.Start(t, so), ca: ca}
}

func (mb *mailbox) email(to ...string) *Email {
	return &Email{To: to, SMTP: mb.Addr, From: "helen@example.com", Hostname: "helen.example",
		RootCAs: mb.ca.Pool(), Timeout: 10 * time.Second}
}

func passwordFile(t *testing.T, pw string) string {
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(pw), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEmailArrives sends a notification through a real SMTP server with
// STARTTLS and a login, and reads the message that arrived.
func TestEmailArrives(t *testing.T) {
	mb := newMailbox(t, mailboxOpts{})
	e := mb.email("ops@example.com", "oncall@example.com")
	e.User, e.PasswordFile = "helen", passwordFile(t, "hunter2\n")
	at := time.Date(2025, 3, 14, 16, 0, 0, 0, time.UTC)
	e.Now = func() time.Time { return at }
	n := Sample(Problem)
	n.Message = "/ is 97.5% full — pruning needed; a line long enough to be folded by quoted-printable encoding, which cuts at 76"
	ans, err := e.Send(context.Background(), n)
	if err != nil {
		t.Fatalf("%v (answer %q)", err, ans)
	}
	if ans != "250 taken for ops@example.com, oncall@example.com over TLS" {
		t.Errorf("answer %q", ans)
	}
	got := mb.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	d := got[0]
	if !d.TLS || d.From != "helen@example.com" || strings.Join(d.To, " ") != "ops@example.com oncall@example.com" {
		t.Errorf("tls %v, from %q, to %q", d.TLS, d.From, d.To)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(d.Data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if subject != "[equus] CRITICAL: disk-root on web-1" {
		t.Errorf("subject %q", subject)
	}
	date, err := msg.Header.Date()
	if err != nil || !date.Equal(at) {
		t.Errorf("date %s %v", date, err)
	}
	for k, want := range map[string]string{
		"From": "helen@example.com", "To": "ops@example.com, oncall@example.com",
		"Message-Id": "<" + n.Delivery + "@helen.example>", "Content-Type": "text/plain; charset=utf-8",
		"Mime-Version": "1.0", "Auto-Submitted": "auto-generated",
	} {
		if v := msg.Header.Get(k); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"CRITICAL: disk-root on web-1\r\n\r\n" + n.Message + "\r\n",
		"Agent:     web-1\r\n", "Schedule:  disk-root (check disk)\r\n", "Status:    critical, was ok\r\n",
		"Since:     2025-03-14 15:09:26 UTC\r\n", "Metrics:   used=97.5% (crit 95)\r\n",
		"Dashboard: " + n.Dashboard + "\r\n", "delivery " + n.Delivery,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in the body:\n%s", want, body)
		}
	}
	if auths := mb.Logins(); len(auths) != 1 || auths[0] != "helen:hunter2" {
		t.Errorf("logins %q", auths)
	}
}

// TestEmailInTheClear: a server without STARTTLS gets the message when
// there is no password to give, and no password when there is one.
func TestEmailInTheClear(t *testing.T) {
	mb := newMailbox(t, mailboxOpts{noTLS: true})
	e := mb.email("ops@example.com")
	ans, err := e.Send(context.Background(), Sample(AgentDown))
	if err != nil || ans != "250 taken for ops@example.com in the clear" {
		t.Fatalf("%q %v", ans, err)
	}
	if got := mb.Messages(); len(got) != 1 || got[0].TLS {
		t.Fatalf("%+v", got)
	}
	e.User, e.PasswordFile = "helen", passwordFile(t, "hunter2")
	if _, err := e.Send(context.Background(), Sample(AgentDown)); !errors.Is(err, ErrPermanent) || !errors.Is(err, errNoTLS) {
		t.Fatalf("err %v, want a refusal to log in in the clear", err)
	}
	if auths, got := mb.Logins(), mb.Messages(); len(auths) != 0 || len(got) != 1 {
		t.Errorf("logins %q, %d messages", auths, len(got))
	}
}

// TestEmailVerifiesTLS: a server whose certificate is not of the CA the
// email trusts is told nothing.
func TestEmailVerifiesTLS(t *testing.T) {
	mb := newMailbox(t, mailboxOpts{})
	other, err := pki.NewCA("another CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := mb.email("ops@example.com")
	e.RootCAs = other.Pool()
	_, err = e.Send(context.Background(), Sample(Problem))
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err %v, want a failed STARTTLS", err)
	}
	if len(mb.Messages()) != 0 {
		t.Error("delivered")
	}
}

// TestEmailRefused: what the server refuses, for good (5xx) or for now
// (4xx), and a recipient refused among others.
func TestEmailRefused(t *testing.T) {
	smtpErr := func(code int, msg string) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: msg}
	}
	for _, tc := range []struct {
		name      string
		refuse    func(cmd string) error
		user      string
		permanent bool
		answer    string
	}{
		{name: "recipient-unknown", refuse: func(cmd string) error {
			if strings.HasPrefix(cmd, "RCPT") {
				return smtpErr(550, "no such user")
			}
			return nil
		}, permanent: true, answer: "refused ops@example.com (550 5.0.0 no such user)"},
		{name: "greylisted", refuse: func(cmd string) error {
			if cmd == "MAIL" {
				return smtpErr(451, "try again later")
			}
			return nil
		}},
		{name: "message-rejected", refuse: func(cmd string) error {
			if cmd == "DATA" {
				return smtpErr(554, "looks like spam")
			}
			return nil
		}, permanent: true},
		{name: "wrong-password", user: "helen", permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mb := newMailbox(t, mailboxOpts{refuse: tc.refuse})
			e := mb.email("ops@example.com")
			if tc.user != "" {
				e.User, e.PasswordFile = tc.user, passwordFile(t, "wrong")
			}
			ans, err := e.Send(context.Background(), Sample(Problem))
			if err == nil || errors.Is(err, ErrPermanent) != tc.permanent {
				t.Fatalf("err %v, want permanent %v", err, tc.permanent)
			}
			if tc.answer != "" && ans != tc.answer {
				t.Errorf("answer %q, want %q", ans, tc.answer)
			}
			if len(mb.Messages()) != 0 {
				t.Error("delivered")
			}
		})
	}
	t.Run("one-recipient-of-two", func(t *testing.T) {
		mb := newMailbox(t, mailboxOpts{refuse: func(cmd string) error {
			if cmd == "RCPT gone@example.com" {
				return smtpErr(550, "no such user")
			}
			return nil
		}})
		ans, err := mb.email("gone@example.com", "ops@example.com").Send(context.Background(), Sample(Problem))
		if err != nil {
			t.Fatal(err)
		}
		if want := "250 taken for ops@example.com over TLS; refused gone@example.com (550 5.0.0 no such user)"; ans != want {
			t.Errorf("answer %q, want %q", ans, want)
		}
		if got := mb.Messages(); len(got) != 1 || len(got[0].To) != 1 {
			t.Errorf("%+v", got)
		}
	})
}

func TestEmailBadSettings(t *testing.T) {
	for name, e := range map[string]*Email{
		"no-recipient":     {SMTP: "127.0.0.1:25"},
		"named-recipient":  {To: []string{"Ops <ops@example.com>"}, SMTP: "127.0.0.1:25"},
		"not-an-address":   {To: []string{"ops"}, SMTP: "127.0.0.1:25"},
		"header-injection": {To: []string{"ops@example.com\r\nBcc: x@example.com"}, SMTP: "127.0.0.1:25"},
		"no-port":          {To: []string{"ops@example.com"}, SMTP: "127.0.0.1"},
		"user-no-password": {To: []string{"ops@example.com"}, SMTP: "127.0.0.1:25", User: "helen"},
		"too-many":         {To: strings.Fields(strings.Repeat("ops@example.com ", MaxRecipients+1)), SMTP: "127.0.0.1:25"},
		"no-password-file": {To: []string{"ops@example.com"}, SMTP: "127.0.0.1:25", User: "helen", PasswordFile: "/nonexistent/password"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := e.Send(context.Background(), Sample(Problem)); !errors.Is(err, ErrPermanent) {
				t.Errorf("err %v, want a permanent failure", err)
			}
		})
	}
}

// TestEmailHostile: servers that never greet, or greet without end.
func TestEmailHostile(t *testing.T) {
	peer := func(t *testing.T, serve func(c net.Conn)) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			serve(c)
		}()
		t.Cleanup(func() { l.Close(); wg.Wait() })
		return l.Addr().String()
	}
	t.Run("never-greets", func(t *testing.T) {
		addr := peer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
		e := &Email{To: []string{"ops@example.com"}, SMTP: addr, Timeout: 200 * time.Millisecond}
		_, err := e.Send(context.Background(), Sample(Problem))
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrPermanent) {
			t.Fatalf("err %v, want a retryable timeout", err)
		}
	})
	t.Run("endless-greeting", func(t *testing.T) {
		addr := peer(t, func(c net.Conn) {
			c.Write([]byte("220-"))
			chunk := []byte(strings.Repeat("x", 64<<10))
			for i := 0; i < 160; i++ { // 10 MB on one line
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		})
		e := &Email{To: []string{"ops@example.com"}, SMTP: addr, Timeout: time.Minute}
		_, err := e.Send(context.Background(), Sample(Problem))
		if err == nil || !strings.Contains(err.Error(), "more than") {
			t.Fatalf("err %v, want the bound on what the server sends", err)
		}
	})
}
