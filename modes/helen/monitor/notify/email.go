package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"
)

// Bounds of the email receiver.
const (
	// MaxRecipients is the most addresses an Email sends to.
	MaxRecipients = 50
	// maxSMTPRead is the most bytes read from an SMTP server in one
	// session: its replies are a few lines, and a server that sends an
	// endless one is cut off there.
	maxSMTPRead = 64 << 10
	// maxPasswordFile is the most bytes of a password file.
	maxPasswordFile = 4 << 10
)

// Email sends each notification as a plain-text email through an SMTP
// server, with STARTTLS whenever the server offers it (its certificate
// verified), and never a password without TLS.
type Email struct {
	To []string
	// SMTP is the server's host:port. Port 465 is TLS from the start
	// (SMTPS); any other starts in the clear and upgrades with STARTTLS
	// when offered.
	SMTP string
	// User and PasswordFile, when User is set, log in (AUTH PLAIN) with
	// the password the file holds (read at each send, so it can be
	// changed; a trailing newline is not part of it).
	User, PasswordFile string
	// From is the sender's address; "" is equus@ and the host's name.
	From string
	// Hostname names this host to the server (EHLO) and in Message-ID;
	// "" is the host's name.
	Hostname string
	// Timeout bounds a session, from connecting to QUIT; 0 is
	// DefaultTimeout.
	Timeout time.Duration
	// RootCAs verifies the server's certificate; nil is the system's
	// roots.
	RootCAs *x509.CertPool
	// Now is the clock of the Date header; nil is time.Now.
	Now func() time.Time
}

// Send mails n to every address of To. Addresses that the server refuses
// while it takes others are named in the answer; when it takes none, or
// refuses the message, Send fails: for good on a 5xx reply, for now on a
// 4xx or a broken connection.
func (e *Email) Send(ctx context.Context, n Notification) (string, error) {
	if err := n.Validate(); err != nil {
		return "", err
	}
	if err := e.check(); err != nil {
		return "", permanent(fmt.Errorf("email: %w", err))
	}
	host, port, _ := net.SplitHostPort(e.SMTP)
	var password string
	if e.User != "" {
		p, err := readPassword(e.PasswordFile)
		if err != nil {
			return "", permanent(fmt.Errorf("email via %s: %w", e.SMTP, err))
		}
		password = p
	}
	ctx, cancel := context.WithTimeout(ctx, timeout(e.Timeout))
	defer cancel()
	conn, err := e.dial(ctx, host, port)
	if err != nil {
		return "", fmt.Errorf("email via %s: %w", e.SMTP, err)
	}
	defer conn.Close()
	ans, err := e.session(conn, host, port, password, n)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 || errors.Is(err, errNoTLS) {
			err = permanent(err)
		}
		return ans, fmt.Errorf("email via %s: %w", e.SMTP, err)
	}
	return ans, nil
}

// check reports what keeps e from sending: no recipient or too many, an
// address that is not one, no server.
func (e *Email) check() error {
	if len(e.To) == 0 || len(e.To) > MaxRecipients {
		return fmt.Errorf("%d recipients: want 1 to %d", len(e.To), MaxRecipients)
	}
	for _, a := range append([]string{e.From}, e.To...) {
		if a == "" {
			continue
		}
		if p, err := mail.ParseAddress(a); err != nil || p.Name != "" || p.Address != a {
			return fmt.Errorf("bad address %q: want a bare address, user@domain", a)
		}
	}
	if _, _, err := net.SplitHostPort(e.SMTP); err != nil {
		return fmt.Errorf("bad SMTP server %q: want host:port", e.SMTP)
	}
	if e.User != "" && e.PasswordFile == "" {
		return errors.New("a user without a password file")
	}
	return nil
}

func readPassword(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	if len(b) > maxPasswordFile {
		return "", fmt.Errorf("password file %s is longer than %d bytes", path, maxPasswordFile)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func (e *Email) tlsConfig(host string) *tls.Config {
	return &tls.Config{ServerName: host, RootCAs: e.RootCAs, MinVersion: tls.VersionTLS12}
}

// dial connects to the server (with TLS at once on port 465), bounds the
// session to ctx's deadline and what it reads to maxSMTPRead, and ends it
// when ctx ends.
func (e *Email) dial(ctx context.Context, host, port string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	// The session ends with ctx (its timeout, or helen stopping): ctx's
	// error is then set when the blocked read or write returns.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	c := &boundedConn{Conn: conn, left: maxSMTPRead, stop: stop}
	if port != "465" {
		return c, nil
	}
	tc := tls.Client(c, e.tlsConfig(host))
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// errNoTLS is a server that offers no TLS to a sender that has a password
// to give.
var errNoTLS = errors.New("the server offers no STARTTLS: not sending a password in the clear")

func (e *Email) session(conn net.Conn, host, port, password string, n Notification) (string, error) {
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Hello(e.hostname()); err != nil {
		return "", err
	}
	secure := port == "465"
	if ok, _ := c.Extension("STARTTLS"); ok && !secure {
		if err := c.StartTLS(e.tlsConfig(host)); err != nil {
			return "", fmt.Errorf("STARTTLS: %w", err)
		}
		secure = true
	}
	if e.User != "" {
		if !secure {
			return "", errNoTLS
		}
		if err := c.Auth(smtp.PlainAuth("", e.User, password, host)); err != nil {
			return "", fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(e.from()); err != nil {
		return "", fmt.Errorf("MAIL FROM: %w", err)
	}
	var took, refused []string
	var lastRefusal error
	for _, to := range e.To {
		if err := c.Rcpt(to); err != nil {
			var te *textproto.Error
			if !errors.As(err, &te) {
				return "", fmt.Errorf("RCPT TO: %w", err)
			}
			refused, lastRefusal = append(refused, fmt.Sprintf("%s (%03d %s)", to, te.Code, te.Msg)), err
			continue
		}
		took = append(took, to)
	}
	if len(took) == 0 {
		return answer("refused", []byte(strings.Join(refused, ", "))), fmt.Errorf("RCPT TO: %w", lastRefusal)
	}
	w, err := c.Data()
	if err != nil {
		return "", fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(e.Message(n)); err != nil {
		return "", fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("DATA: %w", err)
	}
	_ = c.Quit() // the message is taken; a QUIT unanswered changes nothing
	how := "in the clear"
	if secure {
		how = "over TLS"
	}
	ans := fmt.Sprintf("250 taken for %s %s", strings.Join(took, ", "), how)
	if len(refused) > 0 {
		ans += "; refused " + strings.Join(refused, ", ")
	}
	return answer(ans, nil), nil
}

func (e *Email) hostname() string {
	if e.Hostname != "" {
		return e.Hostname
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

func (e *Email) from() string {
	if e.From != "" {
		return e.From
	}
	return "equus@" + e.hostname()
}

// Message returns the email Send sends for n: headers (From, To,
// Subject the notification's headline, Date, a Message-ID made from the
// delivery id so that every attempt has the same, Auto-Submitted) and a
// plain-text body, quoted-printable, with CRLF line ends.
func (e *Email) Message(n Notification) []byte {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", e.from())
	h("To", strings.Join(e.To, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", oneLine("[equus] "+n.Headline())))
	h("Date", now().Format(time.RFC1123Z))
	h("Message-ID", "<"+msgID(n.Delivery)+"@"+oneLine(e.hostname())+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("Auto-Submitted", "auto-generated")
	h("X-Equus-Kind", string(n.Kind))
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(emailBody(n)))
	qp.Close()
	return b.Bytes()
}

// oneLine makes s fit in a header: control characters become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// msgID returns the delivery id as the left part of a Message-ID when it
// can be one as it is, or else its SHA-256 in hex.
func msgID(delivery string) string {
	ok := delivery != ""
	for _, r := range delivery {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.+=", r)) {
			ok = false
		}
	}
	if ok && !strings.HasPrefix(delivery, ".") && !strings.HasSuffix(delivery, ".") && !strings.Contains(delivery, "..") {
		return delivery
	}
	sum := sha256.Sum256([]byte(delivery))
	return hex.EncodeToString(sum[:16])
}

// emailBody is n for a person reading it: the headline, the message, then
// the facts one to a line.
func emailBody(n Notification) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n\n", n.Headline(), n.Message)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-10s %s\n", k+":", v)
		}
	}
	line("Agent", n.Agent)
	if n.Schedule != "" {
		line("Schedule", fmt.Sprintf("%s (check %s)", n.Schedule, n.Check))
	}
	status := n.Status
	if n.Previous != "" {
		status += ", was " + n.Previous
	}
	line("Status", status)
	line("Since", n.Since.UTC().Format("2006-01-02 15:04:05 MST"))
	for i, m := range n.Metrics {
		k := ""
		if i == 0 {
			k = "Metrics"
		}
		v := "unknown"
		if !m.Unknown {
			v = fmt.Sprintf("%g%s", m.Value, m.Unit)
		}
		var th []string
		if s := m.WarnSpec(); s != "" {
			th = append(th, "warn "+s)
		}
		if s := m.CritSpec(); s != "" {
			th = append(th, "crit "+s)
		}
		if len(th) > 0 {
			v += " (" + strings.Join(th, ", ") + ")"
		}
		if k == "" {
			fmt.Fprintf(&b, "%-10s %s=%s\n", "", m.Name, v)
		} else {
			line(k, m.Name+"="+v)
		}
	}
	if n.Author != "" || n.Comment != "" {
		line("Comment", strings.TrimPrefix(n.Author+": "+n.Comment, ": "))
	}
	line("Dashboard", n.Dashboard)
	fmt.Fprintf(&b, "\nNotification %s, delivery %s, attempt %d.\n", n.ID, n.Delivery, n.Attempt)
	return b.String()
}

// boundedConn is a connection that reads at most left bytes, and stops
// watching its context when closed.
type boundedConn struct {
	net.Conn
	left int
	stop func() bool
}

func (c *boundedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("the server sent more than %d bytes", maxSMTPRead)
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= n
	return n, err
}

func (c *boundedConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
