package storetest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

func init() {
	register("Tokens", testTokens)
	register("TokenUnknown", testTokenUnknown)
	register("TokensListedOldestFirst", testTokensListedOldestFirst)
	register("TokenRace", testTokenRace)
	register("PruneTokens", testPruneTokens)
	register("EnrollNames", testEnrollNames)
}

func testTokens(t *testing.T, open Opener) {
	tests := []struct {
		name string
		uses int
		ttl  time.Duration
		// use times, and the error each use returns
		at   []time.Duration
		want []error
	}{
		{"single-use", 1, time.Hour, []time.Duration{0, time.Minute}, []error{nil, state.ErrTokenUsedUp}},
		{"multi-use", 3, time.Hour, []time.Duration{0, 1, 2, 3}, []error{nil, nil, nil, state.ErrTokenUsedUp}},
		{"expired", 5, time.Hour, []time.Duration{59 * time.Minute, time.Hour}, []error{nil, state.ErrTokenExpired}},
		{"expired-and-used-up", 1, time.Hour, []time.Duration{0, 2 * time.Hour}, []error{nil, state.ErrTokenExpired}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := open(t)
			secret, tok, err := db.CreateToken(state.TokenSpec{Uses: tt.uses, TTL: tt.ttl}, coreAt(0))
			if err != nil {
				t.Fatal(err)
			}
			if raw, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(raw) < 16 {
				t.Errorf("secret %q: not url-safe base64 of >= 128 bits (%v)", secret, err)
			}
			if tok.Uses != tt.uses || tok.Used != 0 || !same(tok.Expires, coreAt(tt.ttl)) || len(tok.ID) != 16 {
				t.Errorf("token = %+v", tok)
			}
			for i, d := range tt.at {
				if err := db.Enroll(secret, state.Agent{Name: fmt.Sprintf("web-%d", i)}, coreAt(d)); !errors.Is(err, tt.want[i]) {
					t.Errorf("use %d at +%v: %v, want %v", i, d, err, tt.want[i])
				}
			}
			toks, err := db.Tokens()
			if err != nil || len(toks) != 1 || toks[0].ID != tok.ID {
				t.Fatalf("Tokens = %+v, %v", toks, err)
			}
			used := 0
			for _, err := range tt.want {
				if err == nil {
					used++
				}
			}
			if toks[0].Used != used || toks[0].Uses != tt.uses || !same(toks[0].Created, coreAt(0)) || !same(toks[0].Expires, coreAt(tt.ttl)) {
				t.Errorf("listed %+v, want %d used", toks[0], used)
			}
		})
	}
}

func testTokenUnknown(t *testing.T, open Opener) {
	db := open(t)
	if _, _, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour}, coreAt(0)); err != nil {
		t.Fatal(err)
	}
	if err := db.Enroll("not-a-token", state.Agent{Name: "web-1"}, coreAt(0)); !errors.Is(err, state.ErrTokenUnknown) {
		t.Errorf("Enroll = %v, want ErrTokenUnknown", err)
	}
	for _, bad := range []state.TokenSpec{{Uses: 0, TTL: time.Hour}, {Uses: 1}, {Uses: -1, TTL: time.Hour}, {Uses: 1, TTL: time.Hour, Agent: "nul\x00byte"}} {
		if _, _, err := db.CreateToken(bad, coreAt(0)); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("CreateToken(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if toks, err := db.Tokens(); err != nil || len(toks) != 1 {
		t.Errorf("tokens after refusals: %+v, %v", toks, err)
	}
}

func testTokensListedOldestFirst(t *testing.T, open Opener) {
	db := open(t)
	var ids []string
	secrets := map[string]bool{}
	for _, i := range []int{3, 0, 4, 1, 2} {
		secret, tok, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour}, coreAt(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tok.ID)
		secrets[secret] = true
	}
	if len(secrets) != 5 {
		t.Errorf("secrets repeat: %v", secrets)
	}
	toks, err := db.Tokens()
	if err != nil || len(toks) != 5 {
		t.Fatalf("Tokens = %+v, %v", toks, err)
	}
	for i, j := range []int{1, 3, 4, 0, 2} {
		if toks[i].ID != ids[j] {
			t.Errorf("token %d = %s, want %s", i, toks[i].ID, ids[j])
		}
	}
}

func testTokenRace(t *testing.T, open Opener) {
	db := open(t)
	secret, _, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour}, coreAt(0))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	won := coreRace(t, n, state.ErrTokenUsedUp, func(i int) error {
		return db.Enroll(secret, state.Agent{Name: fmt.Sprintf("web-%d", i)}, coreAt(time.Second))
	})
	if won != 1 {
		t.Errorf("%d of %d uses of a 1-use token succeeded, want 1", won, n)
	}
	if agents, _ := db.Agents(); len(agents) != 1 {
		t.Errorf("agents after the race: %+v, want the winner alone", agents)
	}
}

// testPruneTokens: Prune deletes the tokens that expired before the
// history's cutoff (30 days, the default) and keeps the others, used up
// or not.
func testPruneTokens(t *testing.T, open Opener) {
	db := open(t)
	const day = 24 * time.Hour
	if _, _, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour}, coreAt(-32*day)); err != nil {
		t.Fatal(err)
	}
	_, recent, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour}, coreAt(-29*day))
	if err != nil {
		t.Fatal(err)
	}
	secret, live, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour}, coreAt(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Enroll(secret, state.Agent{Name: "web-1"}, coreAt(0)); err != nil {
		t.Fatal(err)
	}
	_, err = db.Prune(coreAt(0))
	coreNeeds(t, err)
	tokens, err := db.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 2 || tokens[0].ID != recent.ID || tokens[1].ID != live.ID {
		t.Errorf("tokens after prune = %+v, want the one expired 29 days ago and the live one", tokens)
	}
}

// testEnrollNames: a token for no agent in particular enrolls only new
// names, concurrently exactly one caller per name; a token for an agent
// enrolls that name alone, known or not, and records its fingerprint. A
// refusal spends no use and changes no agent.
func testEnrollNames(t *testing.T, open Opener) {
	db := open(t)
	general, generalTok, err := db.CreateToken(state.TokenSpec{Uses: 100, TTL: time.Hour}, coreAt(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Enroll(general, state.Agent{Name: "web-1", Fingerprint: "fp1", Addr: "10.0.0.1:1"}, coreAt(time.Second)); err != nil {
		t.Fatal(err)
	}
	a, err := db.Agent("web-1")
	if err != nil || a.Fingerprint != "fp1" || !a.Pinned || a.Addr != "10.0.0.1:1" || !same(a.FirstSeen, coreAt(time.Second)) {
		t.Errorf("enrolled agent = %+v, %v", a, err)
	}
	if err := db.Enroll(general, state.Agent{Name: "web-1", Fingerprint: "fp-thief"}, coreAt(2*time.Second)); !errors.Is(err, state.ErrEnrolled) {
		t.Errorf("Enroll of a known name with a general token = %v, want ErrEnrolled", err)
	}
	if a, _ := db.Agent("web-1"); a.Fingerprint != "fp1" {
		t.Errorf("a refused enrollment changed the agent: %+v", a)
	}
	if err := db.Enroll(general, state.Agent{Name: "bad name"}, coreAt(2*time.Second)); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("Enroll of a bad name = %v, want ErrInvalid", err)
	}

	// Many callers with a general token race for one new name.
	const n = 16
	won := coreRace(t, n, state.ErrEnrolled, func(i int) error {
		return db.Enroll(general, state.Agent{Name: "db-1", Fingerprint: fmt.Sprint("fp", i)}, coreAt(3*time.Second))
	})
	if won != 1 {
		t.Errorf("%d of %d enrollments of one new name succeeded, want 1", won, n)
	}

	bound, tok, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour, Agent: "web-1"}, coreAt(0))
	if err != nil || tok.Agent != "web-1" {
		t.Fatalf("CreateToken for web-1 = %+v, %v", tok, err)
	}
	if err := db.Enroll(bound, state.Agent{Name: "web-2"}, coreAt(4*time.Second)); !errors.Is(err, state.ErrTokenOtherAgent) {
		t.Errorf("Enroll of web-2 with a token for web-1 = %v, want ErrTokenOtherAgent", err)
	}
	if err := db.Enroll(bound, state.Agent{Name: "web-1", Fingerprint: "fp2"}, coreAt(5*time.Second)); err != nil {
		t.Fatalf("Enroll of web-1 with its token: %v", err)
	}
	if a, _ := db.Agent("web-1"); a.Fingerprint != "fp2" || a.Addr != "10.0.0.1:1" || !same(a.FirstSeen, coreAt(time.Second)) {
		t.Errorf("re-enrolled agent = %+v, want fingerprint fp2, its address kept and the first enrollment's time", a)
	}

	if err := db.Revoke("web-1", coreAt(6*time.Second)); err != nil {
		t.Fatal(err)
	}
	again, againTok, _ := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour, Agent: "web-1"}, coreAt(0))
	if err := db.Enroll(again, state.Agent{Name: "web-1"}, coreAt(7*time.Second)); !errors.Is(err, state.ErrRevoked) {
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
