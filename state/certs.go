package state

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The certificates helen takes from an agent: the one it gave the agent
// last is pinned, and a renewed one is pending beside it until first used.

// certAllowed refuses a certificate other than the one pinned for the
// agent, if any, and its renewed successor not used yet.
func (r agentRecord) certAllowed(fingerprint string) error {
	if r.Pinned && fingerprint != "" && fingerprint != r.Fingerprint && fingerprint != r.Pending {
		return ErrCertReplaced
	}
	return nil
}

// pin makes the certificate with the given fingerprint the agent's only
// one: the one it had and a renewed one it has not used are refused.
func (r *agentRecord) pin(fingerprint string) {
	r.Fingerprint, r.Pinned, r.Pending = fingerprint, true, ""
}

// used records that the agent presented the certificate with the given
// fingerprint: the first use of a renewed certificate pins it, and the
// one it renewed is refused from then on.
func (r *agentRecord) used(fingerprint string) {
	if fingerprint != "" && fingerprint == r.Pending {
		r.pin(fingerprint)
	}
}

// CheckCert returns ErrRevoked when the agent is revoked, ErrCertReplaced
// when the certificate with the given fingerprint is not the one helen gave
// it last, and nil when the agent may use it.
func (db *DB) CheckCert(name, fingerprint string) error {
	err := db.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRevoked).Get([]byte(name)) != nil {
			return ErrRevoked
		}
		rec, err := getAgentTx(tx, name)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return rec.certAllowed(fingerprint)
	})
	if err != nil {
		return fmt.Errorf("agent %s: %w", name, err)
	}
	return nil
}

// PinCert records that the certificate with the given fingerprint is the
// one helen gave the agent last: from then on, its older certificates are
// refused. It creates the agent when helen does not know it yet, and
// returns ErrRevoked for a revoked agent.
func (db *DB) PinCert(name, fingerprint string, now time.Time) error {
	if err := checkAgent("pin certificate", name); err != nil {
		return err
	}
	if fingerprint == "" {
		return fmt.Errorf("pin certificate of %s: %w: no fingerprint", name, ErrInvalid)
	}
	err := db.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRevoked).Get([]byte(name)) != nil {
			return ErrRevoked
		}
		rec, err := getAgentTx(tx, name)
		switch {
		case errors.Is(err, ErrNotFound):
			rec = agentRecord{FirstSeen: now, LastSeen: now, Since: now}
		case err != nil:
			return err
		}
		rec.remember(now)
		rec.pin(fingerprint)
		return putAgentTx(tx, name, rec)
	})
	if err != nil {
		return fmt.Errorf("pin certificate of %s: %w", name, err)
	}
	return nil
}

// RenewCert records the renewal of an agent's certificate, in one
// transaction: the agent presented the certificate with the fingerprint
// current, and helen gives it the one with the fingerprint next. It
// returns ErrRevoked for a revoked agent, ErrNotFound for one helen does
// not know, ErrCertReplaced when current is not a certificate the agent
// may use, and ErrRenewTooSoon when the agent renewed less than
// minInterval before now; any error changes nothing.
//
// next is pending, not pinned: it is accepted beside the pinned one until
// the agent first presents it (AgentSeen, or a renewal with it), which
// pins it, and from then on the one it renewed is refused. So an agent
// that never got helen's answer, or could not write it down, still has a
// certificate helen takes. Helen accepts at most these two, and only until
// the new one is used; no certificate is ever taken back into use once a
// later one was. A later renewal, enrollment or helen issue replaces a
// pending certificate.
func (db *DB) RenewCert(name, current, next string, now time.Time, minInterval time.Duration) error {
	if err := checkAgent("renew certificate", name); err != nil {
		return err
	}
	if current == "" || next == "" {
		return fmt.Errorf("renew certificate of %s: %w: no fingerprint", name, ErrInvalid)
	}
	err := db.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRevoked).Get([]byte(name)) != nil {
			return ErrRevoked
		}
		rec, err := getAgentTx(tx, name)
		if err != nil {
			return err
		}
		if err := rec.certAllowed(current); err != nil {
			return err
		}
		if !rec.Renewed.IsZero() && now.Sub(rec.Renewed) < minInterval {
			return fmt.Errorf("%w: last at %s", ErrRenewTooSoon, rec.Renewed.UTC().Format(time.RFC3339))
		}
		rec.used(current)
		if !rec.Pinned {
			// Taken by name until now: pinned from here on, the renewed
			// certificate pending beside it.
			rec.Fingerprint, rec.Pinned = current, true
		}
		rec.Pending, rec.Renewed = next, now
		return putAgentTx(tx, name, rec)
	})
	if err != nil {
		return fmt.Errorf("renew certificate of %s: %w", name, err)
	}
	return nil
}

// ErrRenewTooSoon refuses a renewal that comes sooner after the last one
// than the caller allows.
var ErrRenewTooSoon = errors.New("state: certificate renewed too recently")

// WhyRefused says, for a log line or an answer, why CheckCert refused an
// agent's certificate.
func WhyRefused(err error) string {
	switch {
	case errors.Is(err, ErrRevoked):
		return "revoked"
	case errors.Is(err, ErrCertReplaced):
		return "its certificate was replaced by a later enrollment, renewal or helen issue"
	}
	return "cannot check its certificate"
}
