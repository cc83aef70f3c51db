package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// MaxSecret is the most bytes of a shared secret's value (a CA's
// certificate and sealed key are a few KiB).
const MaxSecret = 64 << 10

// PutSecret stores value under name unless one is there, and returns what
// is stored. It is two statements, not one: an INSERT that meets a row
// committed by another helen since it began does nothing, and only a
// statement after it sees that row.
func (s *Store) PutSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	if name == "" || len(name) > 1024 {
		return nil, fmt.Errorf("put secret: %w: name of 1 to 1024 bytes", state.ErrInvalid)
	}
	if len(value) == 0 || len(value) > MaxSecret {
		return nil, fmt.Errorf("put secret %s: %w: value of 1 to %d bytes", name, state.ErrInvalid, MaxSecret)
	}
	if _, err := s.pool.Exec(ctx, "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, value); err != nil {
		return nil, fmt.Errorf("put secret %s: %w", name, err)
	}
	return s.Secret(ctx, name)
}

// Secret returns the value stored under name.
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, "SELECT value FROM secrets WHERE name = $1", name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("secret %s: %w", name, state.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return v, nil
}
