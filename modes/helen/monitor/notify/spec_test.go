package notify

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/state"
)

// TestFromSpec: a stored receiver becomes the receiver it describes, which
// sends (a webhook over verified TLS, signed with the secret file's key),
// and what cannot work is refused when built.
func TestFromSpec(t *testing.T) {
	var sig string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sig = r.Header.Get(HeaderSignature)
		w.Write([]byte("took it"))
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("k3y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := FromSpec(state.Receiver{Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: srv.URL, SecretFile: secret}}, roots)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseIdle(r)
	n := Sample(Test)
	ans, err := r.Send(context.Background(), n)
	if err != nil || !strings.Contains(ans, "took it") {
		t.Fatalf("send: %q, %v", ans, err)
	}
	body, _ := r.(*Webhook).Body(n)
	if want := Sign([]byte("k3y"), body); sig != want {
		t.Errorf("signature %q, want %q (the key without its newline)", sig, want)
	}

	for name, rc := range map[string]state.Receiver{
		"template":     {Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: srv.URL, Template: "{{.Nothing}}"}},
		"secret":       {Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: srv.URL, SecretFile: filepath.Join(dir, "missing")}},
		"url":          {Kind: state.KindAlertmanager, Alertmanager: &state.AlertmanagerReceiver{URL: "ftp://am"}},
		"email":        {Kind: state.KindEmail, Email: &state.EmailReceiver{To: []string{"Bob <b@example.com>"}, SMTP: "mx:25"}},
		"exec":         {Kind: state.KindExec, Exec: &state.ExecReceiver{Program: "notify.sh"}},
		"unknown kind": {Kind: "pager"},
	} {
		if _, err := FromSpec(rc, nil); err == nil {
			t.Errorf("%s: a receiver that cannot work was built", name)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{"localhost:80": true, "127.0.0.1": true, "[::1]:9": true, "example.com": false, "10.0.0.1:80": false} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v", host, got)
		}
	}
}
