package pgstore

import (
	"time"

	"github.com/equus-monitoring/equus/state"
)

// What is not built yet of the monitor area; each goes as it is built.

func (*Store) PutSchedule(s state.Schedule) error {
	return errUnimplemented
}

func (*Store) Schedule(name string) (state.Schedule, error) {
	return state.Schedule{}, errUnimplemented
}

func (*Store) Schedules() ([]state.Schedule, error) {
	return nil, errUnimplemented
}

func (*Store) DeleteSchedule(name string) error {
	return errUnimplemented
}

func (*Store) PutStatuses(sts ...state.Status) error {
	return errUnimplemented
}

func (*Store) Statuses(agent string) ([]state.Status, error) {
	return nil, errUnimplemented
}

func (*Store) DeleteStatus(agent, schedule string) error {
	return errUnimplemented
}

func (*Store) DeleteStatuses(keys []state.StatusKey) error {
	return errUnimplemented
}

func (*Store) SetAgentDown(agent string, at time.Time) error {
	return errUnimplemented
}

func (*Store) AgentsDown() (map[string]time.Time, error) {
	return nil, errUnimplemented
}

func (*Store) AddEvents(evs ...state.Event) error {
	return errUnimplemented
}

func (*Store) Events(since, until time.Time, limit int) ([]state.Event, error) {
	return nil, errUnimplemented
}

func (*Store) EventsPage(q state.Query) ([]state.Event, []string, error) {
	return nil, nil, errUnimplemented
}

func (*Store) PruneEvents(before time.Time) (int, error) {
	return 0, errUnimplemented
}

func (*Store) PutRoute(r state.Route) error {
	return errUnimplemented
}

func (*Store) Route(name string) (state.Route, error) {
	return state.Route{}, errUnimplemented
}

func (*Store) Routes() ([]state.Route, error) {
	return nil, errUnimplemented
}

func (*Store) DeleteRoute(name string) error {
	return errUnimplemented
}

func (*Store) AddSilence(s state.Silence) (state.Silence, error) {
	return state.Silence{}, errUnimplemented
}

func (*Store) Silences() ([]state.Silence, error) {
	return nil, errUnimplemented
}

func (*Store) DeleteSilence(id string) error {
	return errUnimplemented
}

func (*Store) EndSilence(id string, at time.Time) error {
	return errUnimplemented
}

func (*Store) Ack(a state.Ack) error {
	return errUnimplemented
}

func (*Store) AckWithNotifications(a state.Ack, notify ...state.Outgoing) error {
	return errUnimplemented
}

func (*Store) Unack(agent, schedule string) error {
	return errUnimplemented
}

func (*Store) Acks() ([]state.Ack, error) {
	return nil, errUnimplemented
}

func (*Store) NotifyGeneration() uint64 {
	return 0
}

func (*Store) AddEventsWithNotifications(ens ...state.EventNotifications) error {
	return errUnimplemented
}

func (*Store) NextDue(now time.Time, limit int) ([]state.Notification, error) {
	return nil, errUnimplemented
}

func (*Store) Release(id string) error {
	return errUnimplemented
}

func (*Store) RecordAttempt(id string, a state.Attempt, outcome state.Outcome, nextAt time.Time) error {
	return errUnimplemented
}

func (*Store) RecordAttempts(recs ...state.AttemptRecord) error {
	return errUnimplemented
}

func (*Store) Expire(now time.Time, maxAge time.Duration) (int, error) {
	return 0, errUnimplemented
}

func (*Store) Notifications(q state.NotificationQuery) ([]state.Notification, []string, error) {
	return nil, nil, errUnimplemented
}

func (*Store) Notification(id string) (state.Notification, error) {
	return state.Notification{}, errUnimplemented
}

func (*Store) OutboxStats() (state.OutboxStats, error) {
	return state.OutboxStats{}, errUnimplemented
}

func (*Store) PruneNotifications(before time.Time) (int, error) {
	return 0, errUnimplemented
}
