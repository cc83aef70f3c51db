package state

import (
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	tests := []struct {
		name string
		uses int
		ttl  time.Duration
		// use times, and the error each use returns
		at   []time.Duration
		want []error
	}{
		{"single-use", 1, time.Hour, []time.Duration{0, time.Minute}, []error{nil, ErrTokenUsedUp}},
		{"multi-use", 3, time.Hour, []time.Duration{0, 1, 2, 3}, []error{nil, nil, nil, ErrTokenUsedUp}},
		{"expired", 5, time.Hour, []time.Duration{59 * time.Minute, time.Hour}, []error{nil, ErrTokenExpired}},
		{"expired-and-used-up", 1, time.Hour, []time.Duration{0, 2 * time.Hour}, []error{nil, ErrTokenExpired}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t, Options{})
			secret, tok, err := db.CreateToken(tt.uses, tt.ttl, at(0))
			if err != nil {
				t.Fatal(err)
			}
			if raw, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(raw) < 16 {
				t.Errorf("secret %q: not url-safe base64 of >= 128 bits (%v)", secret, err)
			}
			if tok.Uses != tt.uses || tok.Used != 0 || !tok.Expires.Equal(at(tt.ttl)) || len(tok.ID) != 2*idLen {
				t.Errorf("token = %+v", tok)
			}
			for i, d := range tt.at {
				if err := db.UseToken(secret, at(d)); !errors.Is(err, tt.want[i]) {
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
			if toks[0].Used != used {
				t.Errorf("Used = %d, want %d", toks[0].Used, used)
			}
		})
	}
}

func TestTokenUnknown(t *testing.T) {
	db := openTest(t, Options{})
	if _, _, err := db.CreateToken(1, time.Hour, at(0)); err != nil {
		t.Fatal(err)
	}
	if err := db.UseToken("not-a-token", at(0)); !errors.Is(err, ErrTokenUnknown) {
		t.Errorf("UseToken = %v, want ErrTokenUnknown", err)
	}
	for _, bad := range []struct {
		uses int
		ttl  time.Duration
	}{{0, time.Hour}, {1, 0}, {-1, time.Hour}} {
		if _, _, err := db.CreateToken(bad.uses, bad.ttl, at(0)); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateToken(%d, %v) = %v, want ErrInvalid", bad.uses, bad.ttl, err)
		}
	}
}

func TestTokensListedOldestFirst(t *testing.T) {
	db := openTest(t, Options{})
	var ids []string
	secrets := map[string]bool{}
	for i := range 5 {
		secret, tok, err := db.CreateToken(1, time.Hour, at(time.Duration(i)*time.Minute))
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
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range toks {
		if tok.ID != ids[i] {
			t.Errorf("token %d = %s, want %s", i, tok.ID, ids[i])
		}
	}
}

func TestTokenRace(t *testing.T) {
	db := openTest(t, Options{})
	secret, _, err := db.CreateToken(1, time.Hour, at(0))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = db.UseToken(secret, at(time.Second))
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrTokenUsedUp):
			t.Errorf("UseToken: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d uses of a 1-use token succeeded, want 1", ok, n)
	}
}

// TestPruneTokens: Prune deletes the tokens that expired before the
// history's cutoff and keeps the others, used up or not.
func TestPruneTokens(t *testing.T) {
	db := openTest(t, Options{HistoryMaxAge: 24 * time.Hour})
	if _, _, err := db.CreateToken(1, time.Hour, at(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, recent, err := db.CreateToken(1, time.Hour, at(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	secret, live, err := db.CreateToken(1, time.Hour, at(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.UseToken(secret, at(0)); err != nil {
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
