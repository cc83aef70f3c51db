package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"text/template"
	"time"
)

// The headers of a webhook's request.
const (
	// HeaderDelivery carries the delivery id, the same on every attempt
	// of one notification to one receiver: a receiver drops a repeat.
	HeaderDelivery = "Idempotency-Key"
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256 of the
	// body under the webhook's secret.
	HeaderSignature = "Equus-Signature"
	// HeaderKind carries the notification's kind, for a receiver that
	// routes on it without reading the body.
	HeaderKind = "Equus-Kind"
)

// Webhook POSTs each notification to URL: its JSON document, or what
// Template makes of it.
type Webhook struct {
	URL string
	// Template, when not nil, makes the body from the notification
	// (ParseTemplate); nil sends the notification's JSON.
	Template *template.Template
	// ContentType is the body's; "" is application/json. A body said to
	// be JSON that is not is refused before it is sent.
	ContentType string
	// Secret, when not empty, signs the body (HeaderSignature).
	Secret []byte
	// Timeout bounds an attempt; 0 is DefaultTimeout.
	Timeout time.Duration
	// RootCAs verifies the receiver's certificate; nil is the system's
	// roots.
	RootCAs *x509.CertPool

	once   sync.Once
	client *http.Client
}

// Send posts n.
func (w *Webhook) Send(ctx context.Context, n Notification) (string, error) {
	if err := n.Validate(); err != nil {
		return "", err
	}
	u, err := checkURL(w.URL)
	if err != nil {
		return "", permanent(fmt.Errorf("webhook: %w", err))
	}
	body, err := w.Body(n)
	if err != nil {
		return "", permanent(fmt.Errorf("webhook %s: %w", redact(u), err))
	}
	w.once.Do(func() { w.client = newHTTPClient(w.RootCAs) })
	ctx, cancel := context.WithTimeout(ctx, timeout(w.Timeout))
	defer cancel()
	h := http.Header{}
	h.Set("Content-Type", w.contentType())
	h.Set("User-Agent", "equus-helen")
	h.Set(HeaderDelivery, n.Delivery)
	h.Set(HeaderKind, string(n.Kind))
	if len(w.Secret) > 0 {
		h.Set(HeaderSignature, Sign(w.Secret, body))
	}
	ans, err := post(ctx, w.client, u.String(), body, h)
	if err != nil {
		return ans, fmt.Errorf("webhook %s: %w", redact(u), err)
	}
	return ans, nil
}

func (w *Webhook) contentType() string {
	if w.ContentType == "" {
		return "application/json"
	}
	return w.ContentType
}

// Body returns what Send posts for n: its JSON, or its template's output,
// at most MaxBody bytes.
func (w *Webhook) Body(n Notification) ([]byte, error) {
	if w.Template == nil {
		return json.Marshal(n)
	}
	var buf bytes.Buffer
	if err := w.Template.Execute(&limited{w: &buf, n: MaxBody}, n); err != nil {
		return nil, fmt.Errorf("template %s: %w", w.Template.Name(), err)
	}
	body := buf.Bytes()
	if isJSON(w.contentType()) && !json.Valid(body) {
		return nil, fmt.Errorf("template %s made a body that is not JSON", w.Template.Name())
	}
	return body, nil
}

func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// Sign returns the signature of body under secret as HeaderSignature
// carries it: "sha256=" and the hex HMAC-SHA256. A receiver computes it
// over the body as it came and compares with hmac.Equal.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ParseTemplate parses a webhook's template, with the functions of
// TemplateFuncs, and tries it on a sample notification of each kind so
// that a template that cannot run is refused when it is set rather than
// at its first notification.
func ParseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Funcs(TemplateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	for _, k := range Kinds {
		if err := t.Execute(&limited{w: &bytes.Buffer{}, n: MaxBody}, Sample(k)); err != nil {
			return nil, fmt.Errorf("template %s on a %s notification: %w", name, k, err)
		}
	}
	return t, nil
}

// TemplateFuncs are the functions a webhook's template may call, beside
// text/template's own.
var TemplateFuncs = template.FuncMap{
	// json writes a value as JSON: {{json .Message}} is a quoted,
	// escaped string to put inside a JSON body.
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	// trunc cuts s to at most n bytes on a rune boundary, adding "…"
	// when it cut.
	"trunc": func(n int, s string) string {
		if len(s) <= n {
			return s
		}
		return answerCut(s, max(n-len("…"), 0)) + "…"
	},
}

// limited writes to w until n bytes were written, then fails.
type limited struct {
	w interface{ Write([]byte) (int, error) }
	n int
}

func (l *limited) Write(b []byte) (int, error) {
	if len(b) > l.n {
		return 0, fmt.Errorf("body longer than %d bytes", MaxBody)
	}
	l.n -= len(b)
	return l.w.Write(b)
}

// timeout returns d, or DefaultTimeout for 0.
func timeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}

// CloseIdleConnections closes the connections kept for the next
// deliveries, for a webhook no longer used.
func (w *Webhook) CloseIdleConnections() {
	w.once.Do(func() { w.client = newHTTPClient(w.RootCAs) })
	w.client.CloseIdleConnections()
}
