package pgstore

import (
	"context"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// What is not built yet of the results area; each goes as it is built.

func (*Store) AddResult(ctx context.Context, r state.Result) error {
	return errUnimplemented
}

func (*Store) History(agent, check string, limit int, since, until time.Time) ([]state.Result, error) {
	return nil, errUnimplemented
}

func (*Store) HistoryPage(agent string, f state.Filter, q state.Query) ([]state.Result, []string, error) {
	return nil, nil, errUnimplemented
}

func (*Store) Latest(agent string) ([]state.Result, error) {
	return nil, errUnimplemented
}

func (*Store) CheckStates(agent string) ([]state.CheckState, error) {
	return nil, errUnimplemented
}

func (*Store) Prune(now time.Time) (int, error) {
	return 0, errUnimplemented
}

func (*Store) Feed(r state.Result) error {
	return errUnimplemented
}

func (*Store) Series(agent, schedule, metric string, from, to time.Time) ([]state.Bucket, error) {
	return nil, errUnimplemented
}

func (*Store) SeriesNames(agent, schedule string) ([]string, error) {
	return nil, errUnimplemented
}
