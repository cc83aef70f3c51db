package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Token is an enrollment token as helen lists it. The secret itself is never
// stored, only its SHA-256.
type Token struct {
	ID               string // hex of the first bytes of the hash, to name a token in lists
	Uses, Used       int
	Created, Expires time.Time
	Agent            string // the one agent it enrolls, "" for new names
}

// TokenSpec says what a new token is good for.
type TokenSpec struct {
	Uses int
	TTL  time.Duration
	// Agent, when set, is the one name the token enrolls, whether it is
	// known already (a machine set up again) or not. A token without one
	// enrolls only names helen does not know yet.
	Agent string
}

// tokenRecord is the stored form of a Token (its hash is the key).
type tokenRecord struct {
	Uses    int       `json:"uses"`
	Used    int       `json:"used"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Agent   string    `json:"agent,omitempty"`
}

// secretLen is the number of random bytes in a token secret (256 bits).
const secretLen = 32

// idLen is the number of hash bytes that name a token.
const idLen = 8

func (r tokenRecord) token(hash []byte) Token {
	return Token{ID: hex.EncodeToString(hash[:idLen]), Uses: r.Uses, Used: r.Used, Created: r.Created, Expires: r.Expires, Agent: r.Agent}
}

func tokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateToken makes a token good for spec.Uses enrollments until
// now+spec.TTL. It returns the secret, url-safe base64 of 256 random bits,
// which is not stored and cannot be recovered.
func (db *DB) CreateToken(spec TokenSpec, now time.Time) (secret string, t Token, err error) {
	secret, hash, t, err := NewToken(spec, now)
	if err != nil {
		return "", Token{}, err
	}
	rec := tokenRecord{Uses: t.Uses, Created: t.Created, Expires: t.Expires, Agent: t.Agent}
	v, err := json.Marshal(rec)
	if err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).Put(hash, v)
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	return secret, rec.token(hash), nil
}

// Enroll spends one use of the token to enroll agent a, and records a
// (its address, and its fingerprint as the one certificate it may use) in
// the same transaction: of many callers
// racing for the last use, or for one new name, exactly one succeeds. It
// returns ErrTokenUnknown, ErrTokenExpired or ErrTokenUsedUp when the
// token cannot be used, ErrRevoked for a revoked name, ErrTokenOtherAgent
// when the token is for another name, and ErrEnrolled when a token for no
// name in particular asks for a name that is known already. A refusal
// spends nothing.
func (db *DB) Enroll(secret string, a Agent, now time.Time) error {
	if err := checkAgent("enroll", a.Name); err != nil {
		return err
	}
	hash := tokenHash(secret)
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		v := b.Get(hash)
		if v == nil {
			return ErrTokenUnknown
		}
		var rec tokenRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode token: %w", err)
		}
		if err := rec.token(hash).Spend(a.Name, now); err != nil {
			return err
		}
		if tx.Bucket(bucketRevoked).Get([]byte(a.Name)) != nil {
			return ErrRevoked
		}
		agent, err := getAgentTx(tx, a.Name)
		switch {
		case errors.Is(err, ErrNotFound):
			agent = agentRecord{FirstSeen: now, Since: now}
		case err != nil:
			return err
		case rec.Agent == "":
			return ErrEnrolled
		}
		rec.Used++
		v, err = json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode token: %w", err)
		}
		if err := b.Put(hash, v); err != nil {
			return err
		}
		agent.remember(now)
		agent.LastSeen = now
		replace(&agent.Addr, a.Addr)
		if a.Fingerprint != "" {
			// The new certificate is the agent's only one from now on.
			agent.pin(a.Fingerprint)
		}
		return putAgentTx(tx, a.Name, agent)
	})
	if err != nil {
		return fmt.Errorf("enroll %s: %w", a.Name, err)
	}
	return nil
}

// Tokens returns every token, oldest first.
func (db *DB) Tokens() ([]Token, error) {
	var tokens []Token
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			var rec tokenRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode token %x: %w", k[:idLen], err)
			}
			tokens = append(tokens, rec.token(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	slices.SortStableFunc(tokens, func(a, b Token) int { return a.Created.Compare(b.Created) })
	return tokens, nil
}

// pruneTokens deletes the tokens that expired before cutoff.
func (db *DB) pruneTokens(cutoff time.Time) error {
	return db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		var expired [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var rec tokenRecord
			if json.Unmarshal(v, &rec) == nil && rec.Expires.Before(cutoff) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range expired {
			if err == nil {
				err = b.Delete(k)
			}
		}
		return err
	})
}
