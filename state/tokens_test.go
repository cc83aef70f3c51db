package state

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// race runs n calls of f at once and returns how many succeeded; the
// others must fail with loses.
func race(t *testing.T, n int, loses error, f func(i int) error) int {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, loses):
			t.Errorf("a loser of the race: %v, want %v", err, loses)
		}
	}
	return won
}

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

// TestEnrollNames: a token for no agent in particular enrolls only new
// names, concurrently exactly one caller per name; a token for an agent
// enrolls that name alone, known or not, and records its fingerprint. A
// refusal spends no use and changes no agent.
func TestEnrollNames(t *testing.T) {
	db := openTest(t, Options{})
	general, generalTok, err := db.CreateToken(TokenSpec{Uses: 100, TTL: time.Hour}, at(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Enroll(general, Agent{Name: "web-1", Fingerprint: "fp1", Addr: "10.0.0.1:1"}, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	a, err := db.Agent("web-1")
	if err != nil || a.Fingerprint != "fp1" || a.Addr != "10.0.0.1:1" || !a.FirstSeen.Equal(at(time.Second)) {
		t.Errorf("enrolled agent = %+v, %v", a, err)
	}
	if err := db.Enroll(general, Agent{Name: "web-1", Fingerprint: "fp-thief"}, at(2*time.Second)); !errors.Is(err, ErrEnrolled) {
		t.Errorf("Enroll of a known name with a general token = %v, want ErrEnrolled", err)
	}
	if a, _ := db.Agent("web-1"); a.Fingerprint != "fp1" {
		t.Errorf("a refused enrollment changed the agent: %+v", a)
	}

	// Many callers with a general token race for one new name.
	const n = 16
	won := race(t, n, ErrEnrolled, func(i int) error {
		return db.Enroll(general, Agent{Name: "db-1", Fingerprint: fmt.Sprint("fp", i)}, at(3*time.Second))
	})
	if won != 1 {
		t.Errorf("%d of %d enrollments of one new name succeeded, want 1", won, n)
	}

	bound, tok, err := db.CreateToken(TokenSpec{Uses: 1, TTL: time.Hour, Agent: "web-1"}, at(0))
	if err != nil || tok.Agent != "web-1" {
		t.Fatalf("CreateToken for web-1 = %+v, %v", tok, err)
	}
	if err := db.Enroll(bound, Agent{Name: "web-2"}, at(4*time.Second)); !errors.Is(err, ErrTokenOtherAgent) {
		t.Errorf("Enroll of web-2 with a token for web-1 = %v, want ErrTokenOtherAgent", err)
	}
	if err := db.Enroll(bound, Agent{Name: "web-1", Fingerprint: "fp2"}, at(5*time.Second)); err != nil {
		t.Fatalf("Enroll of web-1 with its token: %v", err)
	}
	if a, _ := db.Agent("web-1"); a.Fingerprint != "fp2" || !a.FirstSeen.Equal(at(time.Second)) {
		t.Errorf("re-enrolled agent = %+v, want fingerprint fp2 and the first enrollment's time", a)
	}

	if err := db.Revoke("web-1", at(6*time.Second)); err != nil {
		t.Fatal(err)
	}
	again, againTok, _ := db.CreateToken(TokenSpec{Uses: 1, TTL: time.Hour, Agent: "web-1"}, at(0))
	if err := db.Enroll(again, Agent{Name: "web-1"}, at(7*time.Second)); !errors.Is(err, ErrRevoked) {
		t.Errorf("Enroll of a revoked name = %v, want ErrRevoked", err)
	}
	toks, _ := db.Tokens()
	want := map[string]int{generalTok.ID: 2, tok.ID: 1, againTok.ID: 0}
	for _, tok := range toks {
		if tok.Used != want[tok.ID] {
			t.Errorf("token %+v: used %d, want %d", tok, tok.Used, want[tok.ID])
		}
	}
}
