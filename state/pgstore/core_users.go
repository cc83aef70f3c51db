package pgstore

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/equus-monitoring/equus/state"
)

// usersLock is the key of the advisory lock under which an account is
// added, so that helens adding at once cannot pass state.MaxUsers.
const usersLock = 0x65717575 // "equu"

// AddUser stores a new account; state.ErrExists for a name taken,
// state.ErrFull past state.MaxUsers, state.ErrInvalid for a bad name, role
// or hash.
func (s *Store) AddUser(u state.User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	ctx, cancel := coreCtx()
	defer cancel()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, usersLock); err != nil {
			return err
		}
		var taken bool
		var n int
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE name = $1), (SELECT count(*) FROM users)`,
			u.Name).Scan(&taken, &n); err != nil {
			return err
		}
		if taken {
			return state.ErrExists
		}
		if n >= state.MaxUsers {
			return fmt.Errorf("%w: %d users already, at most %d", state.ErrFull, n, state.MaxUsers)
		}
		_, err := tx.Exec(ctx, `INSERT INTO users (name, role, hash, created) VALUES ($1, $2, $3, $4)`,
			u.Name, u.Role, u.Hash, tz(u.Created))
		return err
	})
	if err != nil {
		return fmt.Errorf("add user %s: %w", u.Name, err)
	}
	return nil
}

func scanUser(row pgx.Row) (state.User, error) {
	var u state.User
	var created pgtype.Timestamptz
	err := row.Scan(&u.Name, &u.Role, &u.Hash, &created)
	u.Created = fromTZ(created)
	return u, err
}

// User returns the account called name, or state.ErrNotFound.
func (s *Store) User(name string) (state.User, error) {
	ctx, cancel := coreCtx()
	defer cancel()
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT name, role, hash, created FROM users WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		err = state.ErrNotFound
	}
	if err != nil {
		return state.User{}, fmt.Errorf("user %s: %w", name, err)
	}
	return u, nil
}

// Users returns every account, by name.
func (s *Store) Users() ([]state.User, error) {
	ctx, cancel := coreCtx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT name, role, hash, created FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	us, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (state.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return us, nil
}

// DeleteUser removes the account called name, or returns
// state.ErrNotFound.
func (s *Store) DeleteUser(name string) error {
	ctx, cancel := coreCtx()
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE name = $1`, name)
	if err == nil && tag.RowsAffected() == 0 {
		err = state.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	return nil
}
