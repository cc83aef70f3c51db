package server

import (
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
)

// TestOfflineActions: with helen stopped, the actions of the helen
// commands work on its data directory: a token (and its join command), an
// issued certificate, a revocation.
func TestOfflineActions(t *testing.T) {
	h := startHelen(t, Config{})
	startAgent(t, h, "web-1", behavior{}).Ready()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := openStore(h.dir, state.Options{Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	join, err := offlineJoiner(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := newToken(db, web.TokenRequest{Uses: 1, TTL: web.Duration(time.Hour)}, join)
	if err != nil || !strings.Contains(tok.Join, tok.Token) || !strings.Contains(tok.Join, h.srv.CA().Pin()) {
		t.Fatalf("token offline: %v %+v", err, tok)
	}
	if err := db.Enroll(tok.Token, state.Agent{Name: "new-1"}, time.Now()); err != nil {
		t.Fatalf("offline token unusable: %v", err)
	}
	tok, err = newToken(db, web.TokenRequest{Uses: 1, TTL: web.Duration(time.Hour), Agent: "web-1"}, join)
	if err != nil || tok.Agent != "web-1" || !strings.HasSuffix(tok.Join, " --name web-1") {
		t.Fatalf("token for web-1: %v %+v", err, tok)
	}
	if _, err := newToken(db, web.TokenRequest{Uses: 1, TTL: web.Duration(time.Hour), Agent: "two words"}, join); err == nil {
		t.Error("token for an agent name with a space: no error")
	}
	if err := db.Revoke("gone-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := newToken(db, web.TokenRequest{Uses: 1, TTL: web.Duration(time.Hour), Agent: "gone-1"}, join); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("token for a revoked agent: %v, want an error saying it is revoked", err)
	}
	ca, err := pki.LoadOrCreateCA(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := issue(ca, db, "db-1"); err != nil {
		t.Fatalf("issue offline: %v", err)
	}
	if err := revoke(db, "db-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := issue(ca, db, "db-1"); err == nil {
		t.Fatal("issued offline for a revoked agent")
	}
}
