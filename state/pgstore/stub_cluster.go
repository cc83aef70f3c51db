package pgstore

import (
	"context"
	"time"

	"github.com/equus-monitoring/equus/state"
)

var _ state.Cluster = (*Store)(nil)

// What is not built yet of the cluster area; each goes as it is built.

func (*Store) Beat(ctx context.Context, h state.Helen) error     { return errUnimplemented }
func (*Store) Helens(ctx context.Context) ([]state.Helen, error) { return nil, errUnimplemented }
func (*Store) Unclaim(ctx context.Context, c state.Claim, at time.Time) error {
	return errUnimplemented
}
func (*Store) Claim(ctx context.Context, agent, helen string, at time.Time) (state.Claim, error) {
	return state.Claim{}, errUnimplemented
}
func (*Store) Owner(ctx context.Context, agent string) (state.Claim, error) {
	return state.Claim{}, errUnimplemented
}
func (*Store) Watch(ctx context.Context) (<-chan state.Change, error) { return nil, errUnimplemented }
func (*Store) PutSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	return nil, errUnimplemented
}
func (*Store) Secret(ctx context.Context, name string) ([]byte, error) { return nil, errUnimplemented }
