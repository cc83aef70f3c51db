package pgstore

import (
	"context"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// What is not built yet of the cluster area; each goes as it is built.

func (*Store) MarkDown(ctx context.Context, agent string, at time.Time, unheld time.Duration, ens ...state.EventNotifications) (bool, error) {
	return false, errUnimplemented
}
func (*Store) MarkUp(ctx context.Context, agent string, at time.Time, ens ...state.EventNotifications) (time.Time, bool, error) {
	return time.Time{}, false, errUnimplemented
}
