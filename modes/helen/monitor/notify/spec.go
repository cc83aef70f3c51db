package notify

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/equus-monitoring/equus/state"
)

// maxSecretFile is the most bytes of a webhook's secret file.
const maxSecretFile = 4 << 10

// FromSpec returns the receiver that a route's stored receiver describes,
// or what is wrong with it: a template that does not parse or run on a
// sample, a secret file that cannot be read, a program that is not an
// absolute path. roots verifies the certificates of the HTTPS and SMTP
// servers (nil: the system's roots). The caller closes the idle
// connections of what it built (CloseIdle) when done with it.
func FromSpec(rc state.Receiver, roots *x509.CertPool) (Receiver, error) {
	switch {
	case rc.Kind == state.KindWebhook && rc.Webhook != nil:
		w := rc.Webhook
		if _, err := checkURL(w.URL); err != nil {
			return nil, fmt.Errorf("webhook: %w", err)
		}
		wh := &Webhook{URL: w.URL, Timeout: w.Timeout, RootCAs: roots}
		if w.Template != "" {
			t, err := ParseTemplate("webhook", w.Template)
			if err != nil {
				return nil, fmt.Errorf("webhook %s: %w", w.URL, err)
			}
			wh.Template = t
		}
		if w.SecretFile != "" {
			secret, err := readSecret(w.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("webhook %s: %w", w.URL, err)
			}
			wh.Secret = secret
		}
		return wh, nil
	case rc.Kind == state.KindAlertmanager && rc.Alertmanager != nil:
		if _, err := checkURL(rc.Alertmanager.URL); err != nil {
			return nil, fmt.Errorf("alertmanager: %w", err)
		}
		return &Alertmanager{URL: rc.Alertmanager.URL, RootCAs: roots}, nil
	case rc.Kind == state.KindEmail && rc.Email != nil:
		e := rc.Email
		em := &Email{To: e.To, SMTP: e.SMTP, User: e.User, PasswordFile: e.PasswordFile, From: e.From, RootCAs: roots}
		if err := em.check(); err != nil {
			return nil, err
		}
		return em, nil
	case rc.Kind == state.KindExec && rc.Exec != nil:
		if !filepath.IsAbs(rc.Exec.Program) {
			return nil, fmt.Errorf("exec %q: not an absolute path", rc.Exec.Program)
		}
		return &Exec{Program: rc.Exec.Program, Timeout: rc.Exec.Timeout}, nil
	}
	return nil, fmt.Errorf("receiver of kind %q: unknown, or without its specification", rc.Kind)
}

// readSecret reads a webhook's HMAC key: the file's bytes, without a
// trailing newline, at most maxSecretFile of them, at least one.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("secret file %s: more than %d bytes", path, maxSecretFile)
	}
	secret := bytes.TrimRight(b, "\r\n")
	if len(secret) == 0 {
		return nil, fmt.Errorf("secret file %s: empty", path)
	}
	return secret, nil
}

// CloseIdle closes the idle connections a receiver keeps, if it keeps any.
func CloseIdle(r Receiver) {
	if c, ok := r.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// IsLoopback reports whether the host of a host[:port] is a loopback
// address or localhost: where a plain http receiver is a local relay, not a
// trip across a network in the clear.
func IsLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
