package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/internal/helentest"
	"github.com/equus-monitoring/equus/modes/helen/monitor/notify"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// webhookReceiver is a webhook's receiver over TLS on loopback, which
// keeps the bodies it was posted and the idempotency keys.
type webhookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []string
	keys   []string
}

// startWebhookReceiver starts one with httptest's certificate, or with
// cert when given.
func startWebhookReceiver(t *testing.T, cert ...tls.Certificate) *webhookReceiver {
	w := &webhookReceiver{}
	w.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.bodies = append(w.bodies, string(b))
		w.keys = append(w.keys, r.Header.Get(notify.HeaderDelivery))
		w.mu.Unlock()
		rw.Write([]byte("ok from the receiver"))
	}))
	if len(cert) > 0 {
		w.srv.TLS = &tls.Config{Certificates: cert}
	}
	w.srv.StartTLS()
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhookReceiver) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(w.srv.Certificate())
	return p
}

func (w *webhookReceiver) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.bodies...)
}

// TestRouteTest: POST /v1/routes/{name}/test sends a test notification
// through each receiver of the route, over TLS verified against the
// receivers' roots, and answers what each said; a receiver whose
// certificate is not trusted fails, and says so.
func TestRouteTest(t *testing.T) {
	good := startWebhookReceiver(t)
	h := startHelen(t, Config{receiverRoots: good.roots()})
	// Helen's own certificate, of a CA the receivers' roots do not hold.
	untrusted := startWebhookReceiver(t, h.srv.cert)
	c := newOpsClient(t, h)
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "notify", "slack.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	route := web.RouteView{Name: "ops", Receivers: []web.ReceiverView{
		{Kind: state.KindWebhook, Webhook: &web.WebhookView{URL: good.srv.URL + "/hook", Template: string(tmpl)}},
		{Kind: state.KindWebhook, Webhook: &web.WebhookView{URL: untrusted.srv.URL}},
	}, Renotify: web.Duration(time.Hour)}
	if code, data := c.Do("POST", "/v1/routes", c.Token, route); code != http.StatusOK {
		t.Fatalf("POST /v1/routes: %d %s", code, data)
	}
	code, data := c.Do("POST", "/v1/routes/ops/test", c.Token, nil)
	var rt web.RouteTest
	if code != http.StatusOK || json.Unmarshal(data, &rt) != nil || len(rt.Answers) != 2 {
		t.Fatalf("test: %d %s", code, data)
	}
	if a := rt.Answers[0]; a.Error != "" || !strings.Contains(a.Answer, "ok from the receiver") || !strings.HasPrefix(a.Receiver, "webhook https://127.0.0.1") {
		t.Errorf("the trusted receiver's answer: %+v", a)
	}
	if a := rt.Answers[1]; !strings.Contains(a.Error, "certificate") {
		t.Errorf("the untrusted receiver's answer: %+v, want a certificate error", a)
	}
	bodies := good.got()
	if len(bodies) != 1 || !json.Valid([]byte(bodies[0])) || !strings.Contains(bodies[0], "TEST: a test notification of route ops") {
		t.Errorf("the receiver got %q, want one Slack body of the test", bodies)
	}
	if len(untrusted.got()) != 0 {
		t.Error("a receiver whose certificate is not trusted was sent the notification")
	}
	if code, _ := c.Do("POST", "/v1/routes/nothing/test", c.Token, nil); code != http.StatusNotFound {
		t.Errorf("test of no route: %d, want 404", code)
	}
}

// TestRoutesRefuseBadInput: a route that cannot work is refused with a
// clear error, and nothing is stored.
func TestRoutesRefuseBadInput(t *testing.T) {
	h := startHelen(t, Config{})
	c := newOpsClient(t, h)
	hook := func(url, tmpl string) []web.ReceiverView {
		return []web.ReceiverView{{Kind: state.KindWebhook, Webhook: &web.WebhookView{URL: url, Template: tmpl}}}
	}
	for name, tt := range map[string]struct {
		route web.RouteView
		says  string
	}{
		"plain http":   {web.RouteView{Name: "x", Receivers: hook("http://hooks.example.com/x", "")}, "want https://"},
		"bad template": {web.RouteView{Name: "x", Receivers: hook("https://hooks.example.com/x", "{{.Nothing}}")}, "template"},
		"bad glob":     {web.RouteView{Name: "x", Receivers: hook("https://hooks.example.com/x", ""), Agents: "["}, "agents pattern"},
		"no receiver":  {web.RouteView{Name: "x"}, "no receiver"},
		"bad status":   {web.RouteView{Name: "x", Receivers: hook("https://hooks.example.com/x", ""), Statuses: []string{"ok"}}, "status"},
		"relative exec": {web.RouteView{Name: "x", Receivers: []web.ReceiverView{{Kind: state.KindExec, Exec: &web.ExecView{Program: "notify.sh"}}}},
			"absolute"},
	} {
		code, data := c.Do("POST", "/v1/routes", c.Token, tt.route)
		if code != http.StatusBadRequest || !strings.Contains(string(data), tt.says) {
			t.Errorf("%s: %d %s, want 400 and %q", name, code, data, tt.says)
		}
	}
	if rs, err := h.srv.DB().Routes(); err != nil || len(rs) != 0 {
		t.Errorf("routes stored: %+v %v", rs, err)
	}
	// A loopback relay may speak plain http.
	if code, data := c.Do("POST", "/v1/routes", c.Token, web.RouteView{Name: "relay", Receivers: hook("http://127.0.0.1:9/x", "")}); code != http.StatusOK {
		t.Errorf("a loopback http webhook: %d %s", code, data)
	}
}

// TestSilencesAcksAPI: silences and acknowledgements are added, listed a
// page at a time and removed through the API, and kept in the store.
func TestSilencesAcksAPI(t *testing.T) {
	h := startHelen(t, Config{})
	c := newOpsClient(t, h)
	start := time.Now().Truncate(time.Second)
	var ids []string
	for i := range 3 {
		code, data := c.Do("POST", "/v1/silences", c.Token, web.SilenceRequest{Agents: "web-*", Start: start.Add(time.Duration(i) * time.Minute), End: start.Add(time.Hour), Comment: "maintenance", Author: "alice"})
		var s state.Silence
		if code != http.StatusOK || json.Unmarshal(data, &s) != nil || len(s.ID) != 8 {
			t.Fatalf("POST /v1/silences: %d %s", code, data)
		}
		ids = append(ids, s.ID)
	}
	var first []state.Silence
	req, _ := http.NewRequest("GET", "https://"+h.OpsAddr()+"/v1/silences?limit=2", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, data := c.Send(req)
	if json.Unmarshal(data, &first) != nil || len(first) != 2 || first[0].ID != ids[0] || resp.Header.Get("Link") == "" {
		t.Fatalf("first page: %s %v", data, resp.Header)
	}
	var rest []state.Silence
	c.Get(web.ParseNext(resp.Header.Get("Link")), &rest)
	if len(rest) != 1 || rest[0].ID != ids[2] {
		t.Fatalf("second page: %+v", rest)
	}
	for _, bad := range []web.SilenceRequest{
		{Agents: "[", End: start.Add(time.Hour), Comment: "x"},
		{Agents: "*", End: start.Add(-time.Hour), Comment: "x"},
		{Agents: "*", End: start.Add(time.Hour)},
	} {
		if code, data := c.Do("POST", "/v1/silences", c.Token, bad); code != http.StatusBadRequest {
			t.Errorf("silence %+v: %d %s, want 400", bad, code, data)
		}
	}
	if code, _ := c.Do("DELETE", "/v1/silences/"+ids[1], c.Token, nil); code != http.StatusOK {
		t.Errorf("delete: %d", code)
	}
	if code, _ := c.Do("DELETE", "/v1/silences/"+ids[1], c.Token, nil); code != http.StatusNotFound {
		t.Errorf("delete again: %d, want 404", code)
	}
	if ss, _ := h.srv.DB().Silences(); len(ss) != 2 {
		t.Errorf("silences left: %+v", ss)
	}

	// No problem to take: 409, nothing stored.
	if code, data := c.Do("POST", "/v1/acks", c.Token, web.AckRequest{Agent: "web-1", Schedule: "disk", Comment: "on it", Author: "bob"}); code != http.StatusConflict ||
		!strings.Contains(string(data), "nothing to acknowledge") {
		t.Errorf("ack of no problem: %d %s, want 409", code, data)
	}
	helentest.FailingDisk(t, h, h.srv)
	if code, data := c.Do("POST", "/v1/acks", c.Token, web.AckRequest{Agent: "web-1", Schedule: "disk", Comment: "on it", Author: "bob"}); code != http.StatusOK {
		t.Fatalf("ack: %d %s", code, data)
	}
	if code, _ := c.Do("POST", "/v1/acks", c.Token, web.AckRequest{Agent: "web-1", Schedule: "disk"}); code != http.StatusBadRequest {
		t.Errorf("ack without a comment: %d, want 400", code)
	}
	var acks []state.Ack
	c.Get("/v1/acks", &acks)
	if len(acks) != 1 || acks[0].Author != "bob" || acks[0].Comment != "on it" {
		t.Errorf("acks: %+v", acks)
	}
	if code, _ := c.Do("DELETE", "/v1/acks/web-1/disk", c.Token, nil); code != http.StatusOK {
		t.Errorf("unack: %d", code)
	}
	if code, _ := c.Do("DELETE", "/v1/acks/web-1/disk", c.Token, nil); code != http.StatusNotFound {
		t.Errorf("unack again: %d, want 404", code)
	}
}
