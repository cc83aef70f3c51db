package state

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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
}

// tokenRecord is the stored form of a Token (its hash is the key).
type tokenRecord struct {
	Uses    int       `json:"uses"`
	Used    int       `json:"used"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// secretLen is the number of random bytes in a token secret (256 bits).
const secretLen = 32

// idLen is the number of hash bytes that name a token.
const idLen = 8

func (r tokenRecord) token(hash []byte) Token {
	return Token{ID: hex.EncodeToString(hash[:idLen]), Uses: r.Uses, Used: r.Used, Created: r.Created, Expires: r.Expires}
}

func tokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateToken makes a token good for uses enrollments until now+ttl. It
// returns the secret, url-safe base64 of 256 random bits, which is not stored
// and cannot be recovered.
func (db *DB) CreateToken(uses int, ttl time.Duration, now time.Time) (secret string, t Token, err error) {
	if uses < 1 || ttl <= 0 {
		return "", Token{}, fmt.Errorf("create token: %w: uses %d, ttl %v", ErrInvalid, uses, ttl)
	}
	var buf [secretLen]byte
	rand.Read(buf[:]) // never fails (crypto/rand documents it)
	secret = base64.RawURLEncoding.EncodeToString(buf[:])
	hash := tokenHash(secret)
	rec := tokenRecord{Uses: uses, Created: now, Expires: now.Add(ttl)}
	v, err := json.Marshal(rec)
	if err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).Put(hash, v)
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	return secret, rec.token(hash), nil
}

// UseToken spends one use of the token, atomically: of many callers racing
// for the last use, exactly one succeeds. It returns ErrTokenUnknown,
// ErrTokenExpired or ErrTokenUsedUp when the token cannot be used.
func (db *DB) UseToken(secret string, now time.Time) error {
	hash := tokenHash(secret)
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		v := b.Get(hash)
		if v == nil {
			return ErrTokenUnknown
		}
		var rec tokenRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode token: %w", err)
		}
		if !now.Before(rec.Expires) {
			return ErrTokenExpired
		}
		if rec.Used >= rec.Uses {
			return ErrTokenUsedUp
		}
		rec.Used++
		v, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode token: %w", err)
		}
		return b.Put(hash, v)
	})
	if err != nil {
		return fmt.Errorf("use token: %w", err)
	}
	return nil
}

// Tokens returns every token, oldest first.
func (db *DB) Tokens() ([]Token, error) {
	var tokens []Token
	err := db.bolt.View(func(tx *bolt.Tx) error {
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
	return db.bolt.Update(func(tx *bolt.Tx) error {
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
