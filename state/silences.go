package state

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Bounds of silences and acknowledgements, an operator's input: refused
// with ErrInvalid (or ErrFull) past them, never cut.
const (
	// MaxSilences is the most silences kept, ended ones included: an
	// evaluation walks those in force. AddSilence makes room by dropping
	// the ones that ended longest ago; with every one in force it refuses.
	MaxSilences = 10_000
	// SilenceKeep is how long an ended silence stays listed before Prune
	// drops it.
	SilenceKeep = 7 * 24 * time.Hour
	// MaxComment is the most bytes of the comment or the author of a
	// silence or an acknowledgement.
	MaxComment = 1 << 10
)

// Silence mutes the notifications of problems of agents matching Agents
// and schedules matching Schedules (path.Match patterns; "" matches every
// name) from Start until End.
type Silence struct {
	ID        string    `json:"id"`
	Agents    string    `json:"agents"`
	Schedules string    `json:"schedules,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Comment   string    `json:"comment"`
	Author    string    `json:"author,omitempty"`
	// ExpireOnResolve reports whether the silence ends when the problem
	// it silences recovers (EndSilence).
	ExpireOnResolve bool      `json:"expire_on_resolve,omitempty"`
	Created         time.Time `json:"created"`
}

// Active reports whether the silence is in force at t.
func (s Silence) Active(t time.Time) bool { return !t.Before(s.Start) && t.Before(s.End) }

// silenceIDLen is the length of a silence's id: 8 letters and digits of
// base32 (40 random bits), short enough to type.
const silenceIDLen = 8

const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// NewSilenceID returns a new random id of a silence.
func NewSilenceID() string {
	var b [silenceIDLen]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	for i := range b {
		b[i] = idAlphabet[b[i]&31]
	}
	return string(b[:])
}

func validText(s string) bool { return len(s) <= MaxComment && utf8.ValidString(s) }

// CheckSilence returns s as AddSilence stores it, but for its id (Start,
// when zero, is Created), or an error wrapping ErrInvalid that says what
// is wrong with it.
func CheckSilence(s Silence) (Silence, error) {
	if s.Start.IsZero() {
		s.Start = s.Created
	}
	switch {
	case s.Agents == "" || !validPattern(s.Agents):
		return Silence{}, fmt.Errorf("add silence: %w: agents pattern %q", ErrInvalid, s.Agents)
	case !validPattern(s.Schedules):
		return Silence{}, fmt.Errorf("add silence: %w: schedules pattern %q", ErrInvalid, s.Schedules)
	case !s.End.After(s.Start):
		return Silence{}, fmt.Errorf("add silence: %w: ends at %v, not after its start %v", ErrInvalid, s.End, s.Start)
	case s.Comment == "" || !validText(s.Comment):
		return Silence{}, fmt.Errorf("add silence: %w: a comment of 1 to %d bytes of UTF-8 is needed", ErrInvalid, MaxComment)
	case !validText(s.Author):
		return Silence{}, fmt.Errorf("add silence: %w: author", ErrInvalid)
	}
	return s, nil
}

// AddSilence stores s with a new id, which it returns with the silence as
// stored. Start, when zero, is created.
func (db *DB) AddSilence(s Silence) (Silence, error) {
	s, err := CheckSilence(s)
	if err != nil {
		return Silence{}, err
	}
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSilences)
		if err := makeRoomTx(b, s.Created); err != nil {
			return err
		}
		for s.ID = NewSilenceID(); b.Get([]byte(s.ID)) != nil; s.ID = NewSilenceID() {
		}
		v, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return b.Put([]byte(s.ID), v)
	})
	if err != nil {
		return Silence{}, fmt.Errorf("add silence: %w", err)
	}
	db.notifyChanged()
	return s, nil
}

// makeRoomTx drops the silences that ended longest before now until
// fewer than MaxSilences are left, or refuses with ErrFull.
func makeRoomTx(b *bolt.Bucket, now time.Time) error {
	n := b.Stats().KeyN
	if n < MaxSilences {
		return nil
	}
	ss, err := silencesTx(b)
	if err != nil {
		return err
	}
	slices.SortFunc(ss, func(a, b Silence) int { return a.End.Compare(b.End) })
	for _, s := range ss {
		if n < MaxSilences || s.End.After(now) {
			break
		}
		if err := b.Delete([]byte(s.ID)); err != nil {
			return err
		}
		n--
	}
	if n >= MaxSilences {
		return fmt.Errorf("%w: %d silences in force, at most %d", ErrFull, n, MaxSilences)
	}
	return nil
}

func silencesTx(b *bolt.Bucket) ([]Silence, error) {
	var out []Silence
	err := b.ForEach(func(k, v []byte) error {
		var s Silence
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("decode silence %s: %w", k, err)
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// Silences returns every silence kept, ended ones too, by start then id.
func (db *DB) Silences() ([]Silence, error) {
	var out []Silence
	err := db.view(func(tx *bolt.Tx) (err error) {
		out, err = silencesTx(tx.Bucket(bucketSilences))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	slices.SortFunc(out, func(a, b Silence) int { return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// DeleteSilence removes the silence id, or returns ErrNotFound.
func (db *DB) DeleteSilence(id string) error {
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSilences)
		if b.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete silence %s: %w", id, err)
	}
	db.notifyChanged()
	return nil
}

// EndSilence ends the silence id at at, if it was to end later (the end of
// a silence that expires on resolve), or returns ErrNotFound.
func (db *DB) EndSilence(id string, at time.Time) error {
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSilences)
		v := b.Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		var s Silence
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("decode silence: %w", err)
		}
		if !at.Before(s.End) {
			return nil
		}
		s.End = at
		if s.End.Before(s.Start) {
			s.End = s.Start
		}
		v, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), v)
	})
	if err != nil {
		return fmt.Errorf("end silence %s: %w", id, err)
	}
	db.notifyChanged()
	return nil
}

// pruneSilencesTx drops the silences that ended before before.
func pruneSilencesTx(tx *bolt.Tx, before time.Time) (int, error) {
	b := tx.Bucket(bucketSilences)
	var doomed [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var s Silence
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("decode silence %s: %w", k, err)
		}
		if s.End.Before(before) {
			doomed = append(doomed, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}

// PruneSilences drops the silences that ended more than SilenceKeep
// before now and returns how many. Prune runs it.
func (db *DB) PruneSilences(now time.Time) (int, error) {
	var n int
	err := db.update(func(tx *bolt.Tx) (err error) {
		n, err = pruneSilencesTx(tx, now.Add(-SilenceKeep))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune silences: %w", err)
	}
	if n > 0 {
		db.notifyChanged()
	}
	return n, nil
}
