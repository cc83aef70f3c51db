package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
)

// fillMonitor makes on db a state of every kind the monitor's area
// keeps: a schedule, statuses, an agent down, events (two of one
// instant), a route, a silence, an acknowledgement, and notifications
// delivered, retrying and pending in two groups.
func fillMonitor(t *testing.T, db *state.DB) {
	t.Helper()
	must(t, db.PutSchedule(state.Schedule{Name: "load", Check: "load", Every: time.Minute, Timeout: 30 * time.Second,
		Agents: "web-*", Attempts: 3, Created: at(0), Updated: at(time.Hour)}))
	must(t, db.PutSchedule(state.Schedule{Name: "disk", Check: "disk", Args: json.RawMessage(`{"path":"/"}`),
		Every: time.Second, Agents: "*", Created: at(0), Updated: at(0)}))
	must(t, db.PutStatuses(
		state.Status{Agent: "web-1", Schedule: "load", Check: "load", Status: "critical", Since: at(time.Minute),
			Previous: "ok", Message: "load 9", Time: at(2 * time.Minute), StateType: "hard", Attempt: 3, MaxAttempts: 3, HardStatus: "critical"},
		state.Status{Agent: "db-1", Schedule: "disk", Check: "disk", Status: "ok", Since: at(0), Message: "fine", Time: at(time.Minute)}))
	must(t, db.SetAgentDown("web-2", at(5*time.Minute)))
	must(t, db.AddEvents(
		state.Event{Time: at(time.Minute), Agent: "web-1", Schedule: "load", Check: "load", From: "ok", To: "warning", Message: "load 5"},
		state.Event{Time: at(time.Minute), Agent: "db-1", Schedule: "disk", Check: "disk", From: "", To: "ok", Message: "fine"},
		state.Event{Time: at(5 * time.Minute), Agent: "web-2", From: "up", To: "down", Message: "gone"}))
	must(t, db.PutRoute(state.Route{Name: "ops", Receivers: []state.Receiver{
		{Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: "http://hooks.example/a", Timeout: 5 * time.Second}},
		{Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: "http://hooks.example/b", Timeout: 5 * time.Second}},
	}, Agents: "*", Created: at(0), Updated: at(0)}))
	_, err := db.AddSilence(state.Silence{Agents: "db-*", Start: at(time.Hour), End: at(3 * time.Hour), Comment: "maintenance",
		Author: "ops", Created: at(0)})
	must(t, err)
	must(t, db.Ack(state.Ack{Agent: "web-1", Schedule: "load", Author: "alice", Comment: "known", Time: at(3 * time.Minute)}))

	notify := func(ev state.Event, receivers ...int) state.EventNotifications {
		en := state.EventNotifications{Event: ev}
		for _, r := range receivers {
			en.Notify = append(en.Notify, state.Outgoing{Route: "ops", Receiver: r,
				Doc: json.RawMessage(fmt.Sprintf(`{"kind":"problem","to":%q,"receiver":%d}`, ev.To, r))})
		}
		return en
	}
	must(t, db.AddEventsWithNotifications(notify(state.Event{Time: at(10 * time.Minute), Agent: "web-1", Schedule: "load",
		Check: "load", From: "warning", To: "critical", Message: "load 9", HardChange: true}, 0, 1)))
	due, err := db.NextDue(at(11*time.Minute), 10)
	must(t, err)
	if len(due) != 2 {
		t.Fatalf("due: %+v", due)
	}
	for _, n := range due {
		if n.Receiver == 0 {
			must(t, db.RecordAttempt(n.ID, state.Attempt{Time: at(11 * time.Minute), Answer: "200 OK"}, state.Delivered, time.Time{}))
		} else {
			must(t, db.RecordAttempt(n.ID, state.Attempt{Time: at(11 * time.Minute), Error: "connection refused"}, state.Retry, at(20*time.Minute)))
		}
	}
	// A recovery, pending behind nothing on receiver 0, behind the
	// retrying one on receiver 1.
	must(t, db.AddEventsWithNotifications(notify(state.Event{Time: at(15 * time.Minute), Agent: "web-1", Schedule: "load",
		Check: "load", From: "critical", To: "ok", Message: "load 1", HardChange: true}, 0, 1)))
}

// fillResults stores on db n results of each of three series (two of a
// check, by a schedule and asked for, and another agent's), some of one
// instant, with metrics fed to the graphs, from `from` on.
func fillResults(t *testing.T, db *state.DB, from time.Time, n int) {
	t.Helper()
	ctx := context.Background()
	series := []struct{ agent, check, schedule string }{{"web-1", "load", "load"}, {"web-1", "load", ""}, {"db-1", "disk", "disk"}}
	statuses := []string{"ok", "ok", "warning", "critical", "critical", "ok"}
	for i := range n {
		for j, s := range series {
			tm := from.Add(time.Duration(i/2) * time.Minute) // two results of each minute, of one instant
			r := state.Result{Agent: s.agent, Check: s.check, Schedule: s.schedule, Time: tm, Status: statuses[(i+j)%len(statuses)],
				Message: fmt.Sprintf("run %d", i), DurationMS: float64(i) + 0.5,
				Metrics: []state.Metric{{Name: "value", Value: float64(i * (j + 1))}}}
			if i%5 == 0 {
				r.LongOutput = "line 1\nline 2"
			}
			must(t, db.AddResult(ctx, r))
			if s.schedule != "" {
				must(t, db.Feed(r))
			}
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return string(b)
}

// sameJSON reports, for what each store gave of one read, a difference.
func sameJSON(t *testing.T, what string, bbolt, pg any, errB, errP error) {
	t.Helper()
	if errB != nil || errP != nil {
		t.Errorf("%s: bbolt %v, postgresql %v", what, errB, errP)
		return
	}
	if a, b := jsonOf(t, bbolt), jsonOf(t, pg); a != b {
		t.Errorf("%s:\nbbolt      %s\npostgresql %s", what, a, b)
	}
}

// TestCopyEverything: a bbolt store with some of everything, migrated,
// reads back from PostgreSQL through state.Store as it was: the core
// area, the monitor's (schedules, statuses, agents down, events and their
// cursors, routes, silences and their ids, acknowledgements,
// notifications with their states and attempts, the open ones due on
// PostgreSQL), the history of every series in order with their states,
// and the graphs' minute and hour tiers; the history goes in batches,
// each told.
func TestCopyEverything(t *testing.T) {
	ctx := context.Background()
	defer func(n int) { maxBatch = n }(maxBatch)
	maxBatch = 25

	path := filepath.Join(t.TempDir(), "helen.db")
	db, err := state.Open(path, state.Options{PruneInterval: -1})
	must(t, err)
	secret := fill(t, db)
	fillMonitor(t, db)
	// Recent enough for the graphs' reads, three hours long: hours made
	// into the hour tier and one not yet.
	h0 := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	fillResults(t, db, h0, 400)
	must(t, db.Close()) // flushes the graphs
	db, err = state.Open(path, state.Options{PruneInterval: -1, Existing: true})
	must(t, err)
	defer db.Close()

	url := pgtest.DB(t)
	pg, err := pgstore.Open(ctx, url, pgstore.Options{PruneInterval: -1})
	must(t, err)
	defer pg.Close()
	var lines []string
	must(t, Copy(ctx, db, pg, func(area, what string) { lines = append(lines, area+": "+what) }))
	report := strings.Join(lines, "\n")
	for _, want := range []string{
		"monitor: copied 2 schedules, 2 statuses, 1 agents down, 5 events, 1 routes, 1 silences, 1 acknowledgements, 4 notifications (3 to deliver)",
		"results: 25 of 1200\nresults: 50 of 1200\n",
		"results: 1200 of 1200\nresults: copied 1200 results of 3 series",
		"graphs: copied 2 series, ",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report:\n%s\nwant %q in it", report, want)
		}
	}

	var from, to state.Store = db, pg
	a, errA := from.Schedules()
	b, errB := to.Schedules()
	sameJSON(t, "schedules", a, b, errA, errB)
	sa, errA := from.Statuses("")
	sb, errB := to.Statuses("")
	sameJSON(t, "statuses", sa, sb, errA, errB)
	da, errA := from.AgentsDown()
	db2, errB := to.AgentsDown()
	sameJSON(t, "agents down", da, db2, errA, errB)
	ea, ca, errA := from.EventsPage(state.Query{})
	eb, cb, errB := to.EventsPage(state.Query{})
	sameJSON(t, "events", ea, eb, errA, errB)
	sameJSON(t, "events' cursors", ca, cb, nil, nil)
	if len(ca) > 2 {
		older, _, err := to.EventsPage(state.Query{After: ca[1]})
		if err != nil || len(older) != len(ea)-2 {
			t.Errorf("events on PostgreSQL after a cursor of bbolt's: %d, %v; want %d", len(older), err, len(ea)-2)
		}
	}
	ra, errA := from.Routes()
	rb, errB := to.Routes()
	sameJSON(t, "routes", ra, rb, errA, errB)
	la, errA := from.Silences()
	lb, errB := to.Silences()
	sameJSON(t, "silences", la, lb, errA, errB)
	aa, errA := from.Acks()
	ab, errB := to.Acks()
	sameJSON(t, "acks", aa, ab, errA, errB)
	na, _, errA := from.Notifications(state.NotificationQuery{})
	nb, _, errB := to.Notifications(state.NotificationQuery{})
	sameJSON(t, "notifications", na, nb, errA, errB)
	oa, errA := from.OutboxStats()
	ob, errB := to.OutboxStats()
	sameJSON(t, "outbox stats", oa, ob, errA, errB)

	// The heads of the two groups are due on PostgreSQL as on bbolt:
	// the recovery on receiver 0, the retrying problem on receiver 1.
	dueA, errA := from.NextDue(at(time.Hour), 10)
	dueB, errB := to.NextDue(at(time.Hour), 10)
	sameJSON(t, "due", dueA, dueB, errA, errB)
	if len(dueB) != 2 {
		t.Fatalf("due on PostgreSQL: %+v", dueB)
	}
	for _, n := range dueB {
		must(t, to.RecordAttempt(n.ID, state.Attempt{Time: at(time.Hour), Answer: "200 OK"}, state.Delivered, time.Time{}))
	}
	// Then the recovery behind the problem on receiver 1.
	if next, err := to.NextDue(at(time.Hour), 10); err != nil || len(next) != 1 || next[0].Receiver != 1 || !strings.Contains(string(next[0].Doc), `"ok"`) {
		t.Errorf("due next on PostgreSQL: %+v, %v; want the recovery to receiver 1", next, err)
	}
	// New events and notifications take keys past those copied.
	must(t, to.AddEvents(state.Event{Time: at(time.Minute), Agent: "web-1", From: "down", To: "up"}))
	if evs, _, err := to.EventsPage(state.Query{}); err != nil || len(evs) != len(ea)+1 {
		t.Errorf("events after one more: %d, %v", len(evs), err)
	}

	// The history.
	csA, errA := from.CheckStates("")
	csB, errB := to.CheckStates("")
	sameJSON(t, "check states", csA, csB, errA, errB)
	for _, agent := range []string{"web-1", "db-1"} {
		ha, _, errA := from.HistoryPage(agent, state.Filter{}, state.Query{})
		hb, _, errB := to.HistoryPage(agent, state.Filter{}, state.Query{})
		sameJSON(t, "history of "+agent, ha, hb, errA, errB)
		if len(hb) == 0 {
			t.Errorf("no history of %s on PostgreSQL", agent)
		}
		la, errA := from.Latest(agent)
		lb, errB := to.Latest(agent)
		sameJSON(t, "latest of "+agent, la, lb, errA, errB)
	}

	// The graphs: the hour tier through the interface, the minute tier
	// as stored.
	for _, s := range [][2]string{{"web-1", "load"}, {"db-1", "disk"}} {
		ga, errA := from.Series(s[0], s[1], "value", h0.Add(-24*time.Hour), h0.Add(24*time.Hour))
		gb, errB := to.Series(s[0], s[1], "value", h0.Add(-24*time.Hour), h0.Add(24*time.Hour))
		sameJSON(t, "hours of "+s[0], ga, gb, errA, errB)
		if len(gb) < 3 {
			t.Errorf("hours of %s on PostgreSQL: %+v", s[0], gb)
		}
	}
	var rolls []state.RollupSeries
	minutes := map[int][]state.RollupPoint{}
	must(t, db.ExportRollups(1000, func(rs []state.RollupSeries) error {
		rolls = rs
		return nil
	}, func(hour bool, ps []state.RollupPoint) error {
		for _, p := range ps {
			if !hour {
				minutes[p.Series] = append(minutes[p.Series], p)
			}
		}
		return nil
	}))
	conn, err := pgx.Connect(ctx, url)
	must(t, err)
	defer conn.Close(ctx)
	for i, r := range rolls {
		rows, err := conn.Query(ctx, `SELECT m.start, m.min, m.max, m.sum, m.count FROM rollup_minute m
			JOIN rollup_series s ON s.id = m.series WHERE s.agent = $1 AND s.schedule = $2 AND s.metric = $3 ORDER BY m.start`,
			r.Agent, r.Schedule, r.Metric)
		must(t, err)
		got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (state.RollupPoint, error) {
			var p state.RollupPoint
			var count int64
			err := row.Scan(&p.Start, &p.Min, &p.Max, &p.Sum, &count)
			p.Series, p.Start, p.Count = i, p.Start.UTC(), uint64(count)
			return p, err
		})
		sameJSON(t, "minutes of "+r.Agent, minutes[i], got, nil, err)
		if len(got) < 100 {
			t.Errorf("minutes of %s on PostgreSQL: %d", r.Agent, len(got))
		}
	}

	// A store so filled still works: a token made on bbolt enrolls.
	must(t, to.Enroll(secret, state.Agent{Name: "cache-1", Fingerprint: "fp-cache"}, at(time.Hour)))
	if names := slices.Collect(func(yield func(string) bool) {
		for _, s := range csB {
			if !yield(s.Result.Agent) {
				return
			}
		}
	}); len(names) != 3 {
		t.Errorf("series on PostgreSQL: %v", names)
	}
}
