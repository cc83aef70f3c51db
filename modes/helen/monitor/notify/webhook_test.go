package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// hook is a webhook receiver over TLS on loopback that records what it
// was sent and answers with its handler.
type hook struct {
	srv  *httptest.Server
	pool *x509.CertPool
	done chan struct{} // closed when the test ends, for handlers that hang

	mu   sync.Mutex
	reqs []received
}

type received struct {
	method, path string
	header       http.Header
	body         []byte
}

// newHook starts a receiver whose handler, after the request was
// recorded, is answer (nil: 200 "thanks").
func newHook(t *testing.T, answer func(h *hook, w http.ResponseWriter, r *http.Request)) *hook {
	t.Helper()
	h := &hook{done: make(chan struct{})}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return
		}
		h.mu.Lock()
		h.reqs = append(h.reqs, received{r.Method, r.URL.Path, r.Header.Clone(), body})
		h.mu.Unlock()
		if answer == nil {
			io.WriteString(w, "thanks")
			return
		}
		answer(h, w, r)
	}))
	t.Cleanup(h.srv.Close)
	t.Cleanup(func() { close(h.done) })
	h.pool = x509.NewCertPool()
	h.pool.AddCert(h.srv.Certificate())
	return h
}

func (h *hook) received() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.reqs...)
}

func (h *hook) webhook(path string) *Webhook {
	return &Webhook{URL: h.srv.URL + path, RootCAs: h.pool, Timeout: 10 * time.Second}
}

func TestWebhookPosts(t *testing.T) {
	h := newHook(t, nil)
	w := h.webhook("/hook")
	w.Secret = []byte("s3cret")
	defer w.CloseIdleConnections()
	n := Sample(Problem)
	ans, err := w.Send(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if ans != "HTTP/1.1 200 OK thanks" {
		t.Errorf("answer %q", ans)
	}
	got := h.received()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	if r.method != http.MethodPost || r.path != "/hook" {
		t.Errorf("%s %s", r.method, r.path)
	}
	var back Notification
	if err := json.Unmarshal(r.body, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, n) {
		t.Errorf("body %s\nwant %+v", r.body, n)
	}
	for k, want := range map[string]string{
		"Content-Type":    "application/json",
		"Idempotency-Key": n.Delivery,
		"Equus-Kind":      "problem",
		"Equus-Signature": Sign([]byte("s3cret"), r.body),
	} {
		if v := r.header.Get(k); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	// The signature is HMAC-SHA256 as a receiver computes it.
	sig := r.header.Get(HeaderSignature)
	if !hmac.Equal([]byte(sig), []byte(Sign([]byte("s3cret"), r.body))) || Sign([]byte("other"), r.body) == sig {
		t.Errorf("signature %q", sig)
	}
}

func TestWebhookUnsigned(t *testing.T) {
	h := newHook(t, nil)
	w := h.webhook("/")
	defer w.CloseIdleConnections()
	if _, err := w.Send(context.Background(), Sample(Recovery)); err != nil {
		t.Fatal(err)
	}
	if v := h.received()[0].header.Values(HeaderSignature); v != nil {
		t.Errorf("signed without a secret: %q", v)
	}
}

// TestWebhookVerifiesTLS: a receiver whose certificate the webhook does
// not trust is told nothing.
func TestWebhookVerifiesTLS(t *testing.T) {
	h := newHook(t, nil)
	w := h.webhook("/")
	w.RootCAs = x509.NewCertPool() // trusts nobody
	_, err := w.Send(context.Background(), Sample(Problem))
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("err %v, want an unknown authority", err)
	}
	if got := h.received(); len(got) != 0 {
		t.Errorf("the receiver got %d requests", len(got))
	}
}

func TestWebhookTemplate(t *testing.T) {
	h := newHook(t, nil)
	w := h.webhook("/")
	defer w.CloseIdleConnections()
	var err error
	w.Template, err = ParseTemplate("t", `{"text": {{json .Headline}}, "n": {{.Attempt}}}`)
	if err != nil {
		t.Fatal(err)
	}
	w.Secret = []byte("k")
	n := Sample(Problem)
	n.Message = "quote \" and\nnewline"
	if _, err := w.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	r := h.received()[0]
	if want := `{"text": "CRITICAL: disk-root on web-1", "n": 1}`; string(r.body) != want {
		t.Errorf("body %s, want %s", r.body, want)
	}
	if r.header.Get(HeaderSignature) != Sign([]byte("k"), r.body) {
		t.Error("the signature is not of the body sent")
	}
}

func TestParseTemplateRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"syntax":        `{{.Agent`,
		"no-such-field": `{{.Nope}}`,
		"no-such-func":  `{{nope .Agent}}`,
		"too-long":      `{{range 100000}}{{$.Message}}{{end}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseTemplate("t", text); err == nil {
				t.Error("taken")
			}
		})
	}
}

// TestWebhookBodyNotJSON: a template that makes something other than
// JSON for a JSON body fails for good, and nothing is sent.
func TestWebhookBodyNotJSON(t *testing.T) {
	h := newHook(t, nil)
	w := h.webhook("/")
	var err error
	w.Template, err = ParseTemplate("t", `{"text": "{{.Message}}"}`)
	if err != nil {
		t.Fatal(err)
	}
	n := Sample(Problem)
	n.Message = `a "quoted" word`
	if _, err := w.Send(context.Background(), n); !errors.Is(err, ErrPermanent) {
		t.Fatalf("err %v, want a permanent failure", err)
	}
	if len(h.received()) != 0 {
		t.Error("sent")
	}
	// As text, the same template's output goes.
	w.ContentType = "text/plain"
	defer w.CloseIdleConnections()
	if _, err := w.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if got := h.received(); len(got) != 1 || string(got[0].body) != `{"text": "a "quoted" word"}` {
		t.Errorf("got %q", got)
	}
}

func TestWebhookRefuses(t *testing.T) {
	for name, w := range map[string]*Webhook{
		"no-scheme": {URL: "example.com/hook"},
		"ftp":       {URL: "ftp://example.com/hook"},
		"no-host":   {URL: "https:///hook"},
		"bad":       {URL: "https://exa mple.com/"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := w.Send(context.Background(), Sample(Problem)); !errors.Is(err, ErrPermanent) {
				t.Errorf("err %v, want a permanent failure", err)
			}
		})
	}
	bad := Sample(Problem)
	bad.Delivery = ""
	if _, err := (&Webhook{URL: "https://example.com/"}).Send(context.Background(), bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("no delivery id: %v", err)
	}
}

// TestWebhookHostile holds the webhook to its bounds against receivers
// that misbehave.
func TestWebhookHostile(t *testing.T) {
	t.Run("never-answers", func(t *testing.T) {
		h := newHook(t, func(h *hook, w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-h.done:
			}
		})
		w := h.webhook("/")
		w.Timeout = 200 * time.Millisecond
		_, err := w.Send(context.Background(), Sample(Problem))
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrPermanent) {
			t.Fatalf("err %v, want a retryable timeout", err)
		}
	})
	t.Run("answers-without-end", func(t *testing.T) {
		// 10 MB and more: up to 64 MB, more than the socket buffers
		// hold, and then the body never ends.
		const most = 64 << 20
		wrote := make(chan int64, 1)
		h := newHook(t, func(h *hook, w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			var n int64
			for n < most {
				k, err := w.Write(chunk)
				n += int64(k)
				if err != nil {
					break
				}
			}
			wrote <- n
			select {
			case <-r.Context().Done():
			case <-h.done:
			}
		})
		w := h.webhook("/")
		w.Timeout = 5 * time.Second
		ans, err := w.Send(context.Background(), Sample(Problem))
		if err != nil {
			t.Fatal(err)
		}
		if len(ans) > MaxAnswer || !strings.HasPrefix(ans, "HTTP/1.1 200 OK xxx") {
			t.Errorf("answer of %d bytes: %.40q", len(ans), ans)
		}
		if n := <-wrote; n >= most {
			t.Errorf("the webhook read all %d bytes of the answer", n)
		}
	})
	t.Run("redirect-to-another-origin", func(t *testing.T) {
		other := newHook(t, nil)
		h := newHook(t, func(h *hook, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.srv.URL+"/stolen", http.StatusTemporaryRedirect)
		})
		w := h.webhook("/")
		w.RootCAs.AddCert(other.srv.Certificate())
		w.Secret = []byte("s")
		ans, err := w.Send(context.Background(), Sample(Problem))
		if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "another origin") {
			t.Fatalf("err %v (answer %q), want a permanent failure", err, ans)
		}
		if n := len(other.received()); n != 0 {
			t.Errorf("the other origin got %d requests", n)
		}
	})
	t.Run("redirect-same-origin", func(t *testing.T) {
		h := newHook(t, func(h *hook, w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/old" {
				http.Redirect(w, r, "/new", http.StatusPermanentRedirect)
				return
			}
			io.WriteString(w, "moved, and got it")
		})
		w := h.webhook("/old")
		defer w.CloseIdleConnections()
		if _, err := w.Send(context.Background(), Sample(Problem)); err != nil {
			t.Fatal(err)
		}
		got := h.received()
		if len(got) != 2 || got[1].path != "/new" || got[1].method != http.MethodPost ||
			!bytes.Equal(got[1].body, got[0].body) || got[1].header.Get(HeaderDelivery) == "" {
			t.Errorf("the redirect was not followed with the same request: %+v", got)
		}
	})
	t.Run("redirect-to-get", func(t *testing.T) {
		h := newHook(t, func(h *hook, w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" {
				http.Redirect(w, r, "/elsewhere", http.StatusSeeOther)
			}
		})
		w := h.webhook("/")
		if _, err := w.Send(context.Background(), Sample(Problem)); !errors.Is(err, ErrPermanent) {
			t.Fatalf("err %v, want a permanent failure", err)
		}
		if got := h.received(); len(got) != 1 {
			t.Errorf("%d requests, want the first alone", len(got))
		}
	})
	t.Run("redirect-loop", func(t *testing.T) {
		h := newHook(t, func(h *hook, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path+"x", http.StatusTemporaryRedirect)
		})
		w := h.webhook("/")
		defer w.CloseIdleConnections()
		if _, err := w.Send(context.Background(), Sample(Problem)); !errors.Is(err, ErrPermanent) {
			t.Fatalf("err %v, want a permanent failure", err)
		}
		if got := len(h.received()); got != maxRedirects+1 {
			t.Errorf("%d requests, want %d", got, maxRedirects+1)
		}
	})
	t.Run("500-then-200", func(t *testing.T) {
		var calls int
		h := newHook(t, func(h *hook, w http.ResponseWriter, r *http.Request) {
			calls++
			if calls == 1 {
				http.Error(w, "database\nlocked", http.StatusInternalServerError)
				return
			}
			io.WriteString(w, "ok")
		})
		w := h.webhook("/")
		defer w.CloseIdleConnections()
		n := Sample(Problem)
		ans, err := w.Send(context.Background(), n)
		if err == nil || errors.Is(err, ErrPermanent) {
			t.Fatalf("err %v, want a retryable failure", err)
		}
		if ans != "HTTP/1.1 500 Internal Server Error database locked" {
			t.Errorf("answer %q", ans)
		}
		n.Attempt++
		if ans, err = w.Send(context.Background(), n); err != nil || ans != "HTTP/1.1 200 OK ok" {
			t.Fatalf("second attempt: %q %v", ans, err)
		}
		got := h.received()
		if len(got) != 2 || got[0].header.Get(HeaderDelivery) != n.Delivery || got[1].header.Get(HeaderDelivery) != n.Delivery {
			t.Errorf("the attempts did not carry the same delivery id")
		}
	})
	for _, tc := range []struct {
		code      int
		permanent bool
	}{{400, true}, {401, true}, {404, true}, {410, true}, {408, false}, {429, false}, {502, false}, {503, false}} {
		t.Run(http.StatusText(tc.code), func(t *testing.T) {
			h := newHook(t, func(h *hook, w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.code) })
			w := h.webhook("/")
			defer w.CloseIdleConnections()
			_, err := w.Send(context.Background(), Sample(Problem))
			if err == nil || errors.Is(err, ErrPermanent) != tc.permanent {
				t.Errorf("err %v, want permanent %v", err, tc.permanent)
			}
		})
	}
}
