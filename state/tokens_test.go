package state

import (
	"testing"
	"time"
)

// TestPruneTokens: Prune deletes the tokens that expired before the
// history's cutoff and keeps the others, used up or not.
func TestPruneTokens(t *testing.T) {
	db := openTest(t, Options{HistoryMaxAge: 24 * time.Hour})
	if _, _, err := db.CreateToken(TokenSpec{Uses: 1, TTL: time.Hour}, at(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, recent, err := db.CreateToken(TokenSpec{Uses: 1, TTL: time.Hour}, at(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	secret, live, err := db.CreateToken(TokenSpec{Uses: 1, TTL: time.Hour}, at(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Enroll(secret, Agent{Name: "web-1"}, at(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Prune(at(0)); err != nil {
		t.Fatal(err)
	}
	tokens, err := db.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 2 || tokens[0].ID != recent.ID || tokens[1].ID != live.ID {
		t.Errorf("tokens after prune = %+v, want the one expired 1h ago and the live one", tokens)
	}
}
