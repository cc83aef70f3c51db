package state

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// The rules of agents, certificates, tokens and accounts that decide
// what a store keeps, exported so that every store (state/pgstore beside
// this one) decides alike from one text of them: a store keeps the
// fields of Agent, and changes them only through these.

// CheckAgentName returns nil for a name an agent (or an account) can
// have, else an error for op wrapping both ErrInvalid and the rule's.
func CheckAgentName(op, name string) error { return checkAgent(op, name) }

// CheckEvents returns an error wrapping ErrInvalid when an event of evs
// cannot be stored (no agent, or a time before 1970), as AddEvents does.
func CheckEvents(evs []Event) error {
	_, err := encodeEvents(evs)
	return err
}

// Validate returns an error wrapping ErrInvalid for an account that
// AddUser refuses: a bad name, the admin's, a role not known, a hash
// empty or too long.
func (u User) Validate() error { return u.validate() }

func recordOf(a Agent) agentRecord {
	return agentRecord{
		Fingerprint: a.Fingerprint, Version: a.Version, Addr: a.Addr,
		FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, Connected: a.Connected, Since: a.Since,
		Pinned: a.Pinned, Pending: a.Pending, Renewed: a.Renewed, CertExpires: a.CertExpires, Forgotten: a.Forgotten,
	}
}

// change applies f to a's stored form.
func (a *Agent) change(f func(r *agentRecord)) {
	r := recordOf(*a)
	f(&r)
	*a = r.agent(a.Name)
}

// CertAllowed returns ErrCertReplaced for a certificate other than the
// one pinned for the agent, if any, and its renewed successor not used
// yet; nil otherwise.
func (a Agent) CertAllowed(fingerprint string) error { return recordOf(a).certAllowed(fingerprint) }

// Pin makes the certificate with the given fingerprint the agent's only
// one.
func (a *Agent) Pin(fingerprint string) { a.change(func(r *agentRecord) { r.pin(fingerprint) }) }

// Used records that the agent presented the certificate with the given
// fingerprint: the first use of a renewed (pending) one pins it.
func (a *Agent) Used(fingerprint string) { a.change(func(r *agentRecord) { r.used(fingerprint) }) }

// Remember brings back an agent that was forgotten, as new since now.
func (a *Agent) Remember(now time.Time) { a.change(func(r *agentRecord) { r.remember(now) }) }

// SetConnected sets Connected, and Since when it changes.
func (a *Agent) SetConnected(connected bool, at time.Time) {
	a.change(func(r *agentRecord) { setConnected(r, connected, at) })
}

// Seen applies to the agent's record (found reports whether there is
// one) what AgentSeen records of a at seen: the whole of AgentSeen but
// the revocation's refusal, which the caller checks first. It returns
// ErrCertReplaced, and the record unchanged, for a certificate other
// than the one pinned.
func Seen(rec Agent, found bool, a Agent, seen time.Time) (Agent, error) {
	r := recordOf(rec)
	if !found {
		r = agentRecord{FirstSeen: a.FirstSeen, Since: seen}
		if r.FirstSeen.IsZero() {
			r.FirstSeen = seen
		}
	}
	if err := r.certAllowed(a.Fingerprint); err != nil {
		return rec, err
	}
	r.remember(seen)
	r.used(a.Fingerprint)
	if r.Connected != a.Connected {
		r.Since = seen
	}
	r.Connected = a.Connected
	r.LastSeen = seen
	replace(&r.Fingerprint, a.Fingerprint)
	replace(&r.Version, a.Version)
	replace(&r.Addr, a.Addr)
	if !a.CertExpires.IsZero() {
		r.CertExpires = a.CertExpires
	}
	return r.agent(a.Name), nil
}

// Replace sets *dst to s unless s is empty.
func Replace(dst *string, s string) { replace(dst, s) }

// NewToken checks spec and makes a new token's secret, the hash of it
// that a store keeps, and the token as listed, as CreateToken does.
func NewToken(spec TokenSpec, now time.Time) (secret string, hash []byte, t Token, err error) {
	if spec.Uses < 1 || spec.TTL <= 0 {
		return "", nil, Token{}, fmt.Errorf("create token: %w: uses %d, ttl %v", ErrInvalid, spec.Uses, spec.TTL)
	}
	if spec.Agent != "" {
		if err := checkAgent("create token", spec.Agent); err != nil {
			return "", nil, Token{}, err
		}
	}
	var buf [secretLen]byte
	rand.Read(buf[:]) // never fails (crypto/rand documents it)
	secret = base64.RawURLEncoding.EncodeToString(buf[:])
	hash = tokenHash(secret)
	rec := tokenRecord{Uses: spec.Uses, Created: now, Expires: now.Add(spec.TTL), Agent: spec.Agent}
	return secret, hash, rec.token(hash), nil
}

// TokenHash returns the hash of a token's secret, which a store keeps
// in its place.
func TokenHash(secret string) []byte { return tokenHash(secret) }

// TokenID returns the id that names the token of the given hash in lists.
func TokenID(hash []byte) string { return hex.EncodeToString(hash[:idLen]) }

// Spend checks that the token t may enroll the agent called name at now
// (it returns ErrTokenExpired, ErrTokenUsedUp or ErrTokenOtherAgent
// otherwise), as Enroll does before it looks at the agent.
func (t Token) Spend(name string, now time.Time) error {
	if !now.Before(t.Expires) {
		return ErrTokenExpired
	}
	if t.Used >= t.Uses {
		return ErrTokenUsedUp
	}
	if t.Agent != "" && t.Agent != name {
		return fmt.Errorf("%w (%s)", ErrTokenOtherAgent, t.Agent)
	}
	return nil
}
