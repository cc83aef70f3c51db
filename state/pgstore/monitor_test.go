package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/state"
)

var mon0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func monAt(d time.Duration) time.Time { return mon0.Add(d) }

// openHelens opens n stores on one database, as n helens named h0, h1...
// would, with opt otherwise.
func openHelens(t *testing.T, n int, opt Options) (string, []*Store) {
	t.Helper()
	url := pgtest.DB(t)
	var out []*Store
	for i := range n {
		o := opt
		o.Helen = fmt.Sprintf("h%d", i)
		s, err := Open(context.Background(), url, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return url, out
}

// problemOut is a notification to receivers of route of a problem of
// schedule on agent at d.
func problemOut(agent, schedule string, d time.Duration, route string, receivers ...int) state.EventNotifications {
	ev := state.Event{Time: monAt(d), Agent: agent, Schedule: schedule, Check: schedule, From: "ok", To: "critical", Message: "bad"}
	en := state.EventNotifications{Event: ev}
	for _, r := range receivers {
		en.Notify = append(en.Notify, state.Outgoing{Route: route, Receiver: r, Doc: json.RawMessage(`{"kind":"problem"}`)})
	}
	return en
}

func idsOf(ns []state.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func groupName(n state.Notification) string {
	return fmt.Sprintf("%q %q %q %d", n.Agent, n.Schedule, n.Route, n.Receiver)
}

// Two helens on one database deliver from one outbox at once, while
// notifications keep being added: none is given out twice at once, no two
// of one group are in flight together, each group's go out in the order
// they were made, and each is delivered once.
func TestNextDueTwoHelens(t *testing.T) {
	_, hs := openHelens(t, 2, Options{})
	const agents, each = 6, 20
	total := agents * each * 2
	now := monAt(time.Hour)
	var (
		mu        sync.Mutex
		inFlight  = map[string]string{} // group -> id
		delivered = map[string][]time.Time{}
		byID      = map[string]int{}
		count     int
	)
	var wg sync.WaitGroup
	// Adders: the first half at once, the rest while workers deliver.
	add := func(from, to int) {
		for i := from; i < to; i++ {
			var ens []state.EventNotifications
			for a := range agents {
				ens = append(ens, problemOut(fmt.Sprintf("agent-%d", a), "load", time.Duration(i)*time.Second, "oncall", 0, 1))
			}
			if err := hs[i%2].AddEventsWithNotifications(ens...); err != nil {
				t.Error(err)
				return
			}
		}
	}
	add(0, each/2)
	wg.Go(func() { add(each/2, each) })
	for w := range 6 {
		db := hs[w%2]
		wg.Go(func() {
			// Bounded, so that a bug that loses a notification fails
			// the test rather than hanging it.
			for i := 0; i < 100*total; i++ {
				mu.Lock()
				finished := count >= total
				mu.Unlock()
				if finished {
					return
				}
				due, err := db.NextDue(now, 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, n := range due {
					if other, ok := inFlight[groupName(n)]; ok {
						t.Errorf("%s and %s of one group in flight at once", other, n.ID)
					}
					inFlight[groupName(n)] = n.ID
				}
				mu.Unlock()
				var recs []state.AttemptRecord
				for j, n := range due {
					outcome := state.Delivered
					if (w+i+j)%3 == 0 {
						outcome = state.Retry
					}
					mu.Lock()
					delete(inFlight, groupName(n))
					if outcome == state.Delivered {
						delivered[groupName(n)] = append(delivered[groupName(n)], n.Created)
						byID[n.ID]++
						count++
					}
					mu.Unlock()
					recs = append(recs, state.AttemptRecord{ID: n.ID, Attempt: state.Attempt{Time: now}, Outcome: outcome, NextAt: now})
				}
				// One helen records one at a time, the other in batches.
				if w%2 == 0 {
					for _, r := range recs {
						if err := db.RecordAttempt(r.ID, r.Attempt, r.Outcome, r.NextAt); err != nil {
							t.Error(err)
							return
						}
					}
				} else if err := db.RecordAttempts(recs...); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(delivered) != agents*2 {
		t.Errorf("%d groups delivered, want %d", len(delivered), agents*2)
	}
	for g, times := range delivered {
		for i := 1; i < len(times); i++ {
			if !times[i].After(times[i-1]) {
				t.Errorf("group %s: %v delivered after %v", g, times[i], times[i-1])
			}
		}
		if len(times) != each {
			t.Errorf("group %s: %d delivered, want %d", g, len(times), each)
		}
	}
	for id, n := range byID {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	st, err := hs[0].OutboxStats()
	if err != nil || st.Count[state.NotifyDelivered] != total || st.Count[state.NotifyPending]+st.Count[state.NotifyRetrying] != 0 {
		t.Errorf("stats %+v, %v; want %d delivered, none open", st, err, total)
	}
}

// A helen that stops mid-delivery (its store closed, as if it died)
// leaves its groups held until their lease runs out; then another helen's
// NextDue gives them out, and records them. The dead helen's late word
// on them ends no hold of the other's.
func TestNextDueLeaseTakeover(t *testing.T) {
	const lease = time.Minute
	url, hs := openHelens(t, 2, Options{DeliveryLease: lease})
	a, b := hs[0], hs[1]
	if err := a.AddEventsWithNotifications(problemOut("web-1", "load", 0, "oncall", 0, 1), problemOut("web-2", "load", time.Second, "oncall", 0)); err != nil {
		t.Fatal(err)
	}
	// A second of web-1's receiver 0, behind the first in its group.
	if err := a.AddEventsWithNotifications(problemOut("web-1", "load", 2*time.Second, "oncall", 0)); err != nil {
		t.Fatal(err)
	}
	now := monAt(time.Hour)
	taken, err := a.NextDue(now, 0)
	if err != nil || len(taken) != 3 {
		t.Fatalf("a takes %v, %v; want the 3 heads", idsOf(taken), err)
	}
	a.Close() // dies with the three in flight

	for _, d := range []time.Duration{0, lease / 2, lease - time.Microsecond} {
		if got, err := b.NextDue(now.Add(d), 0); err != nil || len(got) != 0 {
			t.Errorf("b at %v into a's lease: %v, %v; want nothing", d, idsOf(got), err)
		}
	}
	got, err := b.NextDue(now.Add(lease), 0)
	if err != nil || fmt.Sprint(idsOf(got)) != fmt.Sprint(idsOf(taken)) {
		t.Fatalf("b after the lease: %v, %v; want a's %v", idsOf(got), err, idsOf(taken))
	}
	// b holds them now, under a lease of its own.
	if again, _ := b.NextDue(now.Add(lease+time.Second), 0); len(again) != 0 {
		t.Errorf("given out again while b holds them: %v", idsOf(again))
	}
	// a comes back under its name and speaks of what it held: its
	// release ends nothing of b's, and its attempt is recorded but b's
	// hold stays.
	a2, err := Open(context.Background(), url, Options{Helen: "h0", DeliveryLease: lease})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if err := a2.Release(taken[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := a2.RecordAttempt(taken[0].ID, state.Attempt{Time: now.Add(lease), Error: "503"}, state.Retry, now.Add(lease)); err != nil {
		t.Fatal(err)
	}
	if again, _ := a2.NextDue(now.Add(lease+time.Second), 0); len(again) != 0 {
		t.Errorf("given out by the helen come back while b holds them: %v", idsOf(again))
	}
	for _, n := range got {
		if err := b.RecordAttempt(n.ID, state.Attempt{Time: now.Add(lease)}, state.Delivered, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	// web-1's second to receiver 0 is next, once its group's first is
	// delivered.
	next, err := a2.NextDue(now.Add(lease+time.Second), 0)
	if err != nil || len(next) != 1 || next[0].Agent != "web-1" || next[0].Receiver != 0 || !next[0].Created.Equal(monAt(2*time.Second)) {
		t.Fatalf("after b's deliveries: %+v, %v", next, err)
	}
	n, _ := b.Notification(taken[0].ID)
	if n.State != state.NotifyDelivered || n.AttemptCount != 2 {
		t.Errorf("a's late attempt and b's delivery: %+v", n)
	}
}

// A group held by a helen whose heartbeat stopped (state.DeadHelen) is
// given out again at once, well within its lease, and so is one held by
// a helen that started again under its id since it took the group (a
// helen killed mid-delivery and restarted); a live helen's hold stays.
func TestNextDueDeadHolder(t *testing.T) {
	ctx := context.Background()
	_, hs := openHelens(t, 3, Options{DeliveryLease: time.Hour})
	a, b, c := hs[0], hs[1], hs[2]
	now := monAt(time.Hour)
	beat := func(s *Store, started, at time.Time) {
		t.Helper()
		if err := s.Beat(ctx, state.Helen{ID: s.opt.Helen, Addr: "127.0.0.1:7482", Started: started, Beat: at}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.AddEventsWithNotifications(problemOut("web-1", "load", 0, "oncall", 0), problemOut("web-2", "load", 0, "oncall", 0)); err != nil {
		t.Fatal(err)
	}
	beat(a, now.Add(-time.Minute), now)
	beat(b, now.Add(-time.Minute), now)
	taken, err := a.NextDue(now, 1)
	if err != nil || len(taken) != 1 {
		t.Fatalf("a takes %v, %v; want one", idsOf(taken), err)
	}
	taken2, err := b.NextDue(now, 1)
	if err != nil || len(taken2) != 1 || taken2[0].ID == taken[0].ID {
		t.Fatalf("b takes %v, %v; want the other", idsOf(taken2), err)
	}
	// Both alive: nothing for c.
	at := now.Add(state.DeadHelen - time.Second)
	if got, err := c.NextDue(at, 0); err != nil || len(got) != 0 {
		t.Fatalf("c while a and b beat: %v, %v; want nothing", idsOf(got), err)
	}
	// a's last beat is DeadHelen old: its group is c's; b beat again.
	at = now.Add(state.DeadHelen)
	beat(b, now.Add(-time.Minute), at)
	got, err := c.NextDue(at, 0)
	if err != nil || fmt.Sprint(idsOf(got)) != fmt.Sprint(idsOf(taken)) {
		t.Fatalf("c once a is dead: %v, %v; want a's %v", idsOf(got), err, idsOf(taken))
	}
	// b restarted under its id: the group it took before is c's too.
	beat(b, at, at)
	got, err = c.NextDue(at.Add(time.Second), 0)
	if err != nil || fmt.Sprint(idsOf(got)) != fmt.Sprint(idsOf(taken2)) {
		t.Fatalf("c once b restarted: %v, %v; want b's %v", idsOf(got), err, idsOf(taken2))
	}
	// c's own holds, c having no row, stay c's.
	if again, err := b.NextDue(at.Add(2*time.Second), 0); err != nil || len(again) != 0 {
		t.Errorf("given out again while c holds them: %v, %v", idsOf(again), err)
	}
}

// Release and RecordAttempt end the hold at once, whatever the lease.
func TestNextDueReleaseEndsHold(t *testing.T) {
	_, hs := openHelens(t, 2, Options{})
	a, b := hs[0], hs[1]
	if err := a.AddEventsWithNotifications(problemOut("web-1", "load", 0, "oncall", 0)); err != nil {
		t.Fatal(err)
	}
	got, err := a.NextDue(monAt(time.Hour), 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("%v, %v", idsOf(got), err)
	}
	if again, _ := b.NextDue(monAt(time.Hour), 0); len(again) != 0 {
		t.Fatalf("b given a's: %v", idsOf(again))
	}
	if err := b.Release(got[0].ID); err != nil { // not b's to give back
		t.Fatal(err)
	}
	if again, _ := b.NextDue(monAt(time.Hour), 0); len(again) != 0 {
		t.Fatalf("b's release ended a's hold: %v", idsOf(again))
	}
	if err := a.Release(got[0].ID); err != nil {
		t.Fatal(err)
	}
	again, err := b.NextDue(monAt(time.Hour), 0)
	if err != nil || len(again) != 1 || again[0].ID != got[0].ID {
		t.Fatalf("after a's release, b has %v, %v", idsOf(again), err)
	}
	if err := b.RecordAttempt(again[0].ID, state.Attempt{Time: monAt(time.Hour)}, state.Retry, monAt(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if last, _ := a.NextDue(monAt(time.Hour), 0); len(last) != 1 {
		t.Fatalf("after b's attempt, a has %v", idsOf(last))
	}
}

// Delivered and expired notifications go by age and by count (Options'
// NotificationsKept); open ones stay whatever their age, and groups left
// with none go too.
func TestPruneNotificationsKept(t *testing.T) {
	s := openTest(t, Options{NotificationsKept: 3})
	for i := range 8 {
		if err := s.AddEventsWithNotifications(problemOut(fmt.Sprintf("a%d", i), "s", time.Duration(i)*time.Hour, "r", 0)); err != nil {
			t.Fatal(err)
		}
	}
	due, err := s.NextDue(monAt(100*time.Hour), 6)
	if err != nil || len(due) != 6 {
		t.Fatalf("%v, %v", idsOf(due), err)
	}
	for _, n := range due {
		if err := s.RecordAttempt(n.ID, state.Attempt{Time: monAt(100 * time.Hour)}, state.Delivered, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneNotifications(monAt(time.Hour + time.Minute)) // a0, a1 by age; a2 by count
	if err != nil || n != 3 {
		t.Fatalf("prune = %d, %v; want 3", n, err)
	}
	ns, _, _ := s.Notifications(state.NotificationQuery{})
	if len(ns) != 5 || ns[4].Agent != "a3" {
		t.Errorf("after prune: %+v", ns)
	}
	if n, err := s.PruneNotifications(monAt(31 * time.Hour)); err != nil || n != 3 {
		t.Errorf("prune of every delivered one = %d, %v; want 3", n, err)
	}
	var groups int
	if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM outbox_groups").Scan(&groups); err != nil || groups != 2 {
		t.Errorf("%d groups left, %v; want a6's and a7's", groups, err)
	}
	// A group dropped is made again by the next notification of it.
	if err := s.AddEventsWithNotifications(problemOut("a0", "s", 200*time.Hour, "r", 0)); err != nil {
		t.Fatal(err)
	}
	if due, err := s.NextDue(monAt(300*time.Hour), 0); err != nil || len(due) != 3 {
		t.Errorf("due %v, %v; want a6's, a7's and a0's new one", idsOf(due), err)
	}
}

// A helen's statuses of an agent it claimed are written only while its
// claim holds, with the epoch it took: once another helen claimed the
// agent, none of the call's statuses is stored (ErrFenced). Statuses of
// an agent it never claimed are not fenced.
func TestPutStatusesFenced(t *testing.T) {
	_, hs := openHelens(t, 1, Options{})
	s := hs[0]
	ctx := context.Background()
	// The claim as Claim (the cluster's) makes it: the row, and the epoch
	// remembered.
	if _, err := s.pool.Exec(ctx, "INSERT INTO claims (agent, helen, epoch, held, at) VALUES ('web-1', 'h0', 1, true, now())"); err != nil {
		t.Fatal(err)
	}
	s.held.mu.Lock()
	s.held.m = map[string]int64{"web-1": 1}
	s.held.mu.Unlock()
	st := func(agent, status string) state.Status {
		return state.Status{Agent: agent, Schedule: "load", Check: "load", Status: status, Since: mon0, Time: mon0}
	}
	if err := s.PutStatuses(st("web-1", "ok"), st("web-2", "ok")); err != nil {
		t.Fatal(err)
	}
	// Another helen claims web-1.
	if _, err := s.pool.Exec(ctx, "UPDATE claims SET helen = 'h1', epoch = 2 WHERE agent = 'web-1'"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutStatuses(st("web-1", "critical"), st("web-2", "critical")); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("after the claim was taken: %v, want ErrFenced", err)
	}
	all, err := s.Statuses("")
	if err != nil || len(all) != 2 || all[0].Status != "ok" || all[1].Status != "ok" {
		t.Errorf("fenced call stored some: %+v, %v", all, err)
	}
	if err := s.PutStatuses(st("web-2", "warning")); err != nil {
		t.Errorf("agent never claimed: %v", err)
	}
}

// Every write of schedules, silences, acknowledgements and routes tells
// the other helens on ChangesChannel, with the kind; a refused write
// tells nothing.
func TestChangesNotified(t *testing.T) {
	url, hs := openHelens(t, 1, Options{})
	s := hs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+ChangesChannel); err != nil {
		t.Fatal(err)
	}
	route := state.Route{Name: "ops", Receivers: []state.Receiver{{Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: "https://hooks.example/x"}}}}
	sched := state.Schedule{Name: "load", Check: "load", Every: time.Minute, Agents: "*"}
	var sil state.Silence
	steps := []struct {
		kind string // "" for a write refused
		do   func() error
	}{
		{ChangeSchedules, func() error { return s.PutSchedule(sched) }},
		{"", func() error { return s.PutSchedule(state.Schedule{Name: "bad"}) }},
		{ChangeRoutes, func() error { return s.PutRoute(route) }},
		{ChangeSilences, func() (err error) {
			sil, err = s.AddSilence(state.Silence{Agents: "*", Created: mon0, End: monAt(time.Hour), Comment: "deploy"})
			return err
		}},
		{ChangeSilences, func() error { return s.EndSilence(sil.ID, monAt(time.Minute)) }},
		{ChangeAcks, func() error { return s.Ack(state.Ack{Agent: "web-1", Comment: "on it", Time: mon0}) }},
		{"", func() error { return s.Unack("web-9", "") }},
		{ChangeAcks, func() error { return s.Unack("web-1", "") }},
		{ChangeSilences, func() error { return s.DeleteSilence(sil.ID) }},
		{ChangeRoutes, func() error { return s.DeleteRoute("ops") }},
		{ChangeSchedules, func() error { return s.DeleteSchedule("load") }},
		{"", func() error { return s.DeleteSchedule("load") }},
	}
	for i, step := range steps {
		err := step.do()
		if (err == nil) != (step.kind != "") {
			t.Fatalf("step %d: %v", i, err)
		}
		if step.kind == "" {
			continue
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if n.Channel != ChangesChannel || n.Payload != step.kind {
			t.Errorf("step %d: told %s %q, want %q", i, n.Channel, n.Payload, step.kind)
		}
	}
	// Nothing more was told: the next is a mark of the test's own.
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, 'end')", ChangesChannel); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.WaitForNotification(ctx); err != nil || n.Payload != "end" {
		t.Errorf("after the writes: %+v, %v; want the mark", n, err)
	}
}
