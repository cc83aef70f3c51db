package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"sync"
	"time"
)

// The dashboard's login sessions live in a table in helen's memory, not in
// the cookie: the cookie is a random id the table knows, so that the
// server alone decides when a session ends. A session ends 12 hours after
// its login whatever the browser keeps, at its logout, and with helen
// (a restart, as a new admin token needs, logs every browser out). The
// table holds at most MaxSessions; a login past that ends the session
// used longest ago.

const (
	SessionLifetime = 12 * time.Hour
	MaxSessions     = 64
)

// dashSession is one browser's login: who, in which role, and the
// token every form of its pages carries.
type dashSession struct {
	issued  time.Time
	lastUse time.Time
	user    string // state.UserAdmin for the admin token
	role    string // state.RoleOperator or state.RoleReadOnly
	csrf    string // the token its forms carry, random per session
}

// dashSessions is the table, keyed by the SHA-256 of the cookie's id so
// that what it holds does not log anyone in.
type dashSessions struct {
	now func() time.Time

	mu   sync.Mutex
	byID map[[sha256.Size]byte]*dashSession
}

func newDashSessions(now func() time.Time) *dashSessions {
	if now == nil {
		now = time.Now
	}
	return &dashSessions{now: now, byID: map[[sha256.Size]byte]*dashSession{}}
}

// create starts a session and returns the id its cookie carries. It ends
// the expired sessions and, at the bound, the one used longest ago.
func (t *dashSessions) create(user, role string) (id string, s dashSession) {
	id = rand.Text()
	now := t.now()
	s = dashSession{issued: now, lastUse: now, user: user, role: role, csrf: rand.Text()}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, old := range t.byID {
		if expired(old, now) {
			delete(t.byID, k)
		}
	}
	if len(t.byID) >= MaxSessions {
		var oldest [sha256.Size]byte
		var at time.Time
		for k, old := range t.byID {
			if at.IsZero() || old.lastUse.Before(at) {
				oldest, at = k, old.lastUse
			}
		}
		delete(t.byID, oldest)
	}
	t.byID[sha256.Sum256([]byte(id))] = &s
	return id, s
}

// use returns the session of id and records its use, or reports false for
// an id of no session, or of one that has expired (which it ends).
func (t *dashSessions) use(id string) (dashSession, bool) {
	if id == "" {
		return dashSession{}, false
	}
	k := sha256.Sum256([]byte(id))
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byID[k]
	if !ok {
		return dashSession{}, false
	}
	if expired(s, now) {
		delete(t.byID, k)
		return dashSession{}, false
	}
	s.lastUse = now
	return *s, true
}

// csrfOK reports whether got is the token of s, in constant time.
func csrfOK(s dashSession, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// drop ends the session of id, whatever its token: its account is gone.
func (t *dashSessions) drop(id string) {
	k := sha256.Sum256([]byte(id))
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byID, k)
}

// end ends the session of id when csrf is its token, and reports whether
// it did. A wrong token leaves the session alone: a page of another site
// cannot log a browser out.
func (t *dashSessions) end(id, csrf string) bool {
	k := sha256.Sum256([]byte(id))
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byID[k]
	if !ok || subtle.ConstantTimeCompare([]byte(csrf), []byte(s.csrf)) != 1 {
		return false
	}
	delete(t.byID, k)
	return true
}

// len is how many sessions the table holds, expired ones included.
func (t *dashSessions) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

func expired(s *dashSession, now time.Time) bool {
	return !now.Before(s.issued.Add(SessionLifetime))
}
