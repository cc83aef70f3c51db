package pgstore

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// CheckCert returns state.ErrRevoked when the agent is revoked,
// state.ErrCertReplaced when the certificate with the given fingerprint
// is not the one helen gave it last, and nil when the agent may use it.
func (s *Store) CheckCert(name, fingerprint string) error {
	ctx, cancel := coreCtx()
	defer cancel()
	// One statement, no lock: it is asked at every connection.
	var revoked bool
	var pinned *bool
	var fp, pending *string
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked WHERE name = $1), a.pinned, a.fingerprint, a.pending
		FROM (SELECT $1::text AS name) n LEFT JOIN agents a ON a.name = n.name`, name).Scan(&revoked, &pinned, &fp, &pending)
	switch {
	case err != nil:
	case revoked:
		err = state.ErrRevoked
	case pinned != nil:
		err = state.Agent{Pinned: *pinned, Fingerprint: *fp, Pending: *pending}.CertAllowed(fingerprint)
	}
	if err != nil {
		return fmt.Errorf("agent %s: %w", name, err)
	}
	return nil
}

// PinCert records that the certificate with the given fingerprint is the
// one helen gave the agent last, as the bbolt store's does.
func (s *Store) PinCert(name, fingerprint string, now time.Time) error {
	if err := state.CheckAgentName("pin certificate", name); err != nil {
		return err
	}
	if fingerprint == "" {
		return fmt.Errorf("pin certificate of %s: %w: no fingerprint", name, state.ErrInvalid)
	}
	ctx, cancel := coreCtx()
	defer cancel()
	err := s.coreTx(ctx, func(tx pgx.Tx) error {
		r, err := s.readAgentTx(ctx, tx, name, false)
		if err != nil {
			return err
		}
		if r.revoked {
			return state.ErrRevoked
		}
		a := r.agent
		if !r.found {
			a = state.Agent{Name: name, FirstSeen: now, LastSeen: now, Since: now}
		}
		a.Remember(now)
		a.Pin(fingerprint)
		return putAgentTx(ctx, tx, a, r.found)
	})
	if err != nil {
		return fmt.Errorf("pin certificate of %s: %w", name, err)
	}
	return nil
}

// RenewCert records the renewal of an agent's certificate in one
// transaction, as the bbolt store's does: any error changes nothing.
func (s *Store) RenewCert(name, current, next string, now time.Time, minInterval time.Duration) error {
	if err := state.CheckAgentName("renew certificate", name); err != nil {
		return err
	}
	if current == "" || next == "" {
		return fmt.Errorf("renew certificate of %s: %w: no fingerprint", name, state.ErrInvalid)
	}
	ctx, cancel := coreCtx()
	defer cancel()
	err := s.coreTx(ctx, func(tx pgx.Tx) error {
		r, err := s.readAgentTx(ctx, tx, name, false)
		switch {
		case err != nil:
			return err
		case r.revoked:
			return state.ErrRevoked
		case !r.found:
			return state.ErrNotFound
		}
		a := r.agent
		if err := a.CertAllowed(current); err != nil {
			return err
		}
		if !a.Renewed.IsZero() && now.Sub(a.Renewed) < minInterval {
			return fmt.Errorf("%w: last at %s", state.ErrRenewTooSoon, a.Renewed.UTC().Format(time.RFC3339))
		}
		a.Used(current)
		if !a.Pinned {
			// Taken by name until now: pinned from here on, the renewed
			// certificate pending beside it.
			a.Fingerprint, a.Pinned = current, true
		}
		a.Pending, a.Renewed = next, now
		return putAgentTx(ctx, tx, a, true)
	})
	if err != nil {
		return fmt.Errorf("renew certificate of %s: %w", name, err)
	}
	return nil
}
