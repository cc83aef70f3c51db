package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/state"
)

// What helen migrate needs of the store beyond state.Store: whether it is
// empty, and the imports of what the interface cannot write whole (each
// area's, import_*.go or here).

// Empty returns "" when no table of the schema but equus_schema has a
// row, else the name of one that has.
func (s *Store) Empty(ctx context.Context) (string, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_class c
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
			AND c.relnamespace = current_schema()::regnamespace AND c.relname <> 'equus_schema'
		ORDER BY c.relname`)
	if err != nil {
		return "", fmt.Errorf("store %s: %w", s.url, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("store %s: %w", s.url, err)
	}
	for _, t := range tables {
		var has bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{t}.Sanitize()+`)`).Scan(&has); err != nil {
			return "", fmt.Errorf("store %s: %s: %w", s.url, t, err)
		}
		if has {
			return t, nil
		}
	}
	return "", nil
}

// ImportCore writes x, agents, revocations and tokens exactly as the
// other store kept them, into tables that must be empty, in one
// transaction: all of it lands, or none.
func (s *Store) ImportCore(ctx context.Context, x state.CoreExport) error {
	for _, a := range x.Agents {
		if err := state.CheckAgentName("import agent", a.Name); err != nil {
			return err
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"agents"}, []string{"name", "fingerprint", "version", "addr",
			"first_seen", "last_seen", "connected", "since", "pinned", "pending", "renewed", "cert_expires", "forgotten"},
			pgx.CopyFromSlice(len(x.Agents), func(i int) ([]any, error) {
				a := x.Agents[i]
				return []any{a.Name, a.Fingerprint, a.Version, a.Addr, tz(a.FirstSeen), tz(a.LastSeen), a.Connected, tz(a.Since),
					a.Pinned, a.Pending, tz(a.Renewed), tz(a.CertExpires), tz(a.Forgotten)}, nil
			}))
		if err != nil {
			return fmt.Errorf("agents: %w", err)
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"revoked"}, []string{"name", "at"},
			pgx.CopyFromSlice(len(x.Revoked), func(i int) ([]any, error) {
				return []any{x.Revoked[i].Name, x.Revoked[i].At}, nil
			}))
		if err != nil {
			return fmt.Errorf("revocations: %w", err)
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"tokens"}, []string{"hash", "uses", "used", "created", "expires", "for_agent"},
			pgx.CopyFromSlice(len(x.Tokens), func(i int) ([]any, error) {
				t := x.Tokens[i]
				return []any{t.Hash, t.Token.Uses, t.Token.Used, t.Token.Created, t.Token.Expires, t.Token.Agent}, nil
			}))
		if err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import into %s: %w", s.url, err)
	}
	return nil
}
