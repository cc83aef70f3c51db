package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// problem is an event of a schedule on an agent going critical at d.
func problem(agent, schedule string, d time.Duration) Event {
	return Event{Time: at(d), Agent: agent, Schedule: schedule, Check: schedule, From: "ok", To: "critical", Message: "bad"}
}

// notify returns ev with a notification to each of the receivers of
// route, its document naming the event's time.
func notify(ev Event, route string, receivers ...int) EventNotifications {
	en := EventNotifications{Event: ev}
	for _, r := range receivers {
		doc := fmt.Sprintf(`{"kind":"problem","agent":%q,"time":%q}`, ev.Agent, ev.Time.Format(time.RFC3339Nano))
		en.Notify = append(en.Notify, Outgoing{Route: route, Receiver: r, Doc: json.RawMessage(doc)})
	}
	return en
}

func mustAdd(t testing.TB, db *DB, ens ...EventNotifications) {
	t.Helper()
	if err := db.AddEventsWithNotifications(ens...); err != nil {
		t.Fatal(err)
	}
}

func listAll(t testing.TB, db *DB, q NotificationQuery) []Notification {
	t.Helper()
	ns, _, err := db.Notifications(q)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func wantStats(t *testing.T, db *DB, pending, retrying, delivered, expired int) {
	t.Helper()
	st, err := db.OutboxStats()
	if err != nil {
		t.Fatal(err)
	}
	want := map[NotificationState]int{NotifyPending: pending, NotifyRetrying: retrying, NotifyDelivered: delivered, NotifyExpired: expired}
	for s, n := range want {
		if st.Count[s] != n {
			t.Errorf("%s: %d, want %d (%v)", s, st.Count[s], n, st.Count)
		}
	}
}

// ids returns the ids of ns.
func ids(ns []Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func nextDue(t *testing.T, db *DB, now time.Time, limit int) []Notification {
	t.Helper()
	ns, err := db.NextDue(now, limit)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func record(t *testing.T, db *DB, id string, when time.Time, outcome Outcome, next time.Time) {
	t.Helper()
	a := Attempt{Time: when, Answer: "200 OK"}
	if outcome == Retry {
		a = Attempt{Time: when, Answer: "503", Error: "service unavailable"}
	}
	if err := db.RecordAttempt(id, a, outcome, next); err != nil {
		t.Fatal(err)
	}
}

// A group's notifications (agent, schedule, route, receiver) go out one at
// a time and in order, whatever their next attempts say; other groups are
// not held up by it.
func TestNextDueOrder(t *testing.T) {
	db := openTest(t, Options{})
	mustAdd(t, db, notify(problem("web-1", "load", 0), "oncall", 0, 1))
	mustAdd(t, db, notify(problem("web-1", "load", time.Second), "oncall", 0)) // after web-1 load's first, same group as its receiver 0
	mustAdd(t, db, notify(problem("web-2", "load", 2*time.Second), "oncall", 0))
	all := listAll(t, db, NotificationQuery{})
	first0, first1, second0, web2 := all[3], all[2], all[1], all[0]
	if first0.Receiver != 0 || first1.Receiver != 1 || !second0.Created.Equal(at(time.Second)) || web2.Agent != "web-2" {
		t.Fatalf("notifications %+v", all)
	}

	if got := nextDue(t, db, at(-time.Second), 0); len(got) != 0 {
		t.Errorf("due before any was made: %v", ids(got))
	}
	// The heads of three groups, by their next attempt.
	got := nextDue(t, db, at(time.Hour), 2)
	if want := []string{first0.ID, first1.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("first two due %v, want %v", ids(got), want)
	}
	got = nextDue(t, db, at(time.Hour), 0)
	if want := []string{web2.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("then %v, want %v: the others are in flight", ids(got), want)
	}
	if got := nextDue(t, db, at(time.Hour), 0); len(got) != 0 {
		t.Errorf("everything is in flight, yet %v", ids(got))
	}

	// first0 fails, to be tried at 1h+10s: second0 waits behind it.
	record(t, db, first0.ID, at(time.Hour), Retry, at(time.Hour+10*time.Second))
	if got := nextDue(t, db, at(time.Hour+5*time.Second), 0); len(got) != 0 {
		t.Errorf("due while first0 waits for its retry: %v", ids(got))
	}
	got = nextDue(t, db, at(time.Hour+10*time.Second), 0)
	if want := []string{first0.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("at its retry: %v, want %v", ids(got), want)
	}
	n, _ := db.Notification(first0.ID)
	if n.State != NotifyRetrying || n.AttemptCount != 1 || n.LastError() != "service unavailable" {
		t.Errorf("after a failed attempt: %+v", n)
	}
	wantStats(t, db, 3, 1, 0, 0)
	record(t, db, first0.ID, at(time.Hour+11*time.Second), Delivered, time.Time{})
	got = nextDue(t, db, at(time.Hour+11*time.Second), 0)
	if want := []string{second0.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("after first0's delivery: %v, want %v", ids(got), want)
	}
	n, _ = db.Notification(first0.ID)
	if n.State != NotifyDelivered || !n.Ended.Equal(at(time.Hour+11*time.Second)) || n.AttemptCount != 2 || len(n.Attempts) != 2 {
		t.Errorf("delivered: %+v", n)
	}
	wantStats(t, db, 3, 0, 1, 0)

	// Given back, second0 is due again at once; left alone, the claims
	// on first1 and web2 hold whatever the clock says, a year on, until
	// their attempts are recorded.
	if err := db.Release(second0.ID); err != nil {
		t.Fatal(err)
	}
	got = nextDue(t, db, at(time.Hour+11*time.Second), 0)
	if want := []string{second0.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("after Release: %v, want %v", ids(got), want)
	}
	if got := nextDue(t, db, at(365*24*time.Hour), 0); len(got) != 0 {
		t.Errorf("a year later, in flight still, yet given out again: %v", ids(got))
	}
	record(t, db, first1.ID, at(365*24*time.Hour), Retry, at(365*24*time.Hour))
	if err := db.Release("not-an-id"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Release of a bad id: %v, want ErrInvalid", err)
	}
	got = nextDue(t, db, at(365*24*time.Hour), 0)
	if want := []string{first1.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("after first1's attempt: %v, want %v", ids(got), want)
	}
	// A late attempt at a delivered one is recorded and changes nothing.
	record(t, db, first0.ID, at(2*time.Hour), Retry, at(3*time.Hour))
	if n, _ = db.Notification(first0.ID); n.State != NotifyDelivered || n.AttemptCount != 3 {
		t.Errorf("attempt after delivery: %+v", n)
	}
	wantStats(t, db, 2, 1, 1, 0) // first1 retrying
}

// Past their age, open notifications are recorded expired, and listed;
// the next of their group takes their place.
func TestExpire(t *testing.T) {
	db := openTest(t, Options{})
	mustAdd(t, db, notify(problem("a", "s", 0), "r", 0))
	mustAdd(t, db, notify(problem("a", "s", time.Hour), "r", 0))
	mustAdd(t, db, notify(problem("b", "s", 2*time.Hour), "r", 0))
	all := listAll(t, db, NotificationQuery{})
	old, newer := all[2], all[1]
	got := nextDue(t, db, at(3*time.Hour), 0)
	if len(got) != 2 || got[0].ID != old.ID {
		t.Fatalf("due %v", ids(got))
	}
	record(t, db, old.ID, at(3*time.Hour), Retry, at(4*time.Hour))

	if _, err := db.Expire(at(0), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Expire with no age: %v", err)
	}
	n, err := db.Expire(at(24*time.Hour+30*time.Minute), 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	e, _ := db.Notification(old.ID)
	if e.State != NotifyExpired || !e.Ended.Equal(at(24*time.Hour+30*time.Minute)) || e.AttemptCount != 1 {
		t.Errorf("expired: %+v", e)
	}
	wantStats(t, db, 2, 0, 0, 1)
	if ex := listAll(t, db, NotificationQuery{State: NotifyExpired}); len(ex) != 1 || ex[0].ID != old.ID {
		t.Errorf("expired listed %v", ids(ex))
	}
	// Its group's next is due; the expired one never again.
	got = nextDue(t, db, at(25*time.Hour), 0)
	if len(got) != 1 || got[0].ID != newer.ID {
		t.Errorf("due after expiry %v, want %s (b's is in flight)", ids(got), newer.ID)
	}
	st, _ := db.OutboxStats()
	if !st.OldestOpen.Equal(at(time.Hour)) {
		t.Errorf("oldest open %v", st.OldestOpen)
	}
	// Delivered after all (its worker was slow): delivered.
	record(t, db, old.ID, at(25*time.Hour), Delivered, time.Time{})
	wantStats(t, db, 2, 0, 1, 0)
	if n, err := db.Expire(at(100*time.Hour), 24*time.Hour); err != nil || n != 2 {
		t.Errorf("Expire of the rest = %d, %v", n, err)
	}
	wantStats(t, db, 0, 0, 1, 2)
	if got := nextDue(t, db, at(100*time.Hour), 0); len(got) != 0 {
		t.Errorf("due with all expired: %v", ids(got))
	}
	st, _ = db.OutboxStats()
	if !st.OldestOpen.IsZero() {
		t.Errorf("oldest open %v with none open", st.OldestOpen)
	}
}

// Delivered and expired notifications go by age and by count; open ones
// stay whatever their age.
func TestPruneNotifications(t *testing.T) {
	db := openTest(t, Options{NotificationsKept: 3, HistoryMaxAge: 24 * time.Hour, PruneInterval: -1})
	for i := range 8 {
		mustAdd(t, db, notify(problem(fmt.Sprintf("a%d", i), "s", time.Duration(i)*time.Hour), "r", 0))
	}
	// a0 to a5 delivered, a6 and a7 open.
	for _, n := range nextDue(t, db, at(100*time.Hour), 6) {
		record(t, db, n.ID, at(100*time.Hour), Delivered, time.Time{})
	}
	wantStats(t, db, 2, 0, 6, 0)
	n, err := db.PruneNotifications(at(time.Hour + time.Minute)) // a0, a1 by age; a2 by count
	if err != nil || n != 3 {
		t.Fatalf("prune = %d, %v; want 3", n, err)
	}
	wantStats(t, db, 2, 0, 3, 0)
	if ns := listAll(t, db, NotificationQuery{}); len(ns) != 5 || ns[4].Agent != "a3" {
		t.Errorf("after prune: %+v", ns)
	}
	// Prune, a day after a7: every delivered one goes, the open ones stay.
	if _, err := db.Prune(at(31 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantStats(t, db, 2, 0, 0, 0)
	if ns := listAll(t, db, NotificationQuery{}); len(ns) != 2 || ns[0].State != NotifyPending {
		t.Errorf("after Prune: %+v", ns)
	}
}

// 100 pending notifications survive the file's close and are all due
// after it opens again, in order in their groups.
func TestOutboxSurvivesReopen(t *testing.T) {
	db := openTest(t, Options{})
	for i := range 100 {
		mustAdd(t, db, notify(problem(fmt.Sprintf("web-%d", i%10), "load", time.Duration(i)*time.Second), "oncall", 0))
	}
	got := nextDue(t, db, at(time.Hour), 0) // in flight when helen stops
	if len(got) != 10 {
		t.Fatalf("%d due, want the 10 heads", len(got))
	}
	db = reopen(t, db, Options{})
	wantStats(t, db, 100, 0, 0, 0)
	var delivered []Notification
	for len(delivered) < 100 {
		due := nextDue(t, db, at(time.Hour), 0)
		if len(due) == 0 {
			t.Fatalf("nothing due after %d delivered", len(delivered))
		}
		for _, n := range due {
			record(t, db, n.ID, at(time.Hour), Delivered, time.Time{})
		}
		delivered = append(delivered, due...)
	}
	last := map[string]time.Time{}
	for _, n := range delivered {
		if n.Created.Before(last[n.Agent]) {
			t.Errorf("%s: %v delivered after %v", n.Agent, n.Created, last[n.Agent])
		}
		last[n.Agent] = n.Created
	}
	wantStats(t, db, 0, 0, 100, 0)
}

// The outbox in a file of schema version 1, which has none of its
// buckets: Open makes them, and the rest of the alerting store works too.
func TestOutboxInOldFile(t *testing.T) {
	path := openV1(t)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer checkFile(t, path)
	defer db.Close()
	mustAdd(t, db, notify(problem("web-1", "disk-root", 0), "oncall", 0))
	if got := nextDue(t, db, at(time.Hour), 0); len(got) != 1 {
		t.Errorf("due %v", got)
	}
	if err := db.PutRoute(Route{Name: "oncall", Receivers: []Receiver{webhook("http://h/")}}); err != nil {
		t.Error(err)
	}
	if _, err := db.AddSilence(silence("web-*", 0, time.Hour)); err != nil {
		t.Error(err)
	}
	if err := db.Ack(Ack{Agent: "web-1", Schedule: "disk-root", Comment: "c"}); err != nil {
		t.Error(err)
	}
	if evs, _ := db.Events(time.Time{}, time.Time{}, 0); len(evs) != 2 {
		t.Errorf("events: %+v, want the file's one and the new one", evs)
	}
}

// Claims live in memory: a notification in flight when helen dies (its
// store closed, here, with no attempt recorded) is due again once the
// store is opened again.
func TestClaimsGoneAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "helen.db")
	db, err := Open(path, Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, notify(problem("web-1", "load", 0), "oncall", 0))
	got := nextDue(t, db, at(time.Hour), 0)
	if len(got) != 1 {
		db.Close()
		t.Fatalf("due %v, want one", ids(got))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{PruneInterval: -1, Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	again := nextDue(t, db, at(time.Hour), 0)
	if len(again) != 1 || again[0].ID != got[0].ID || again[0].AttemptCount != 0 {
		t.Errorf("after a restart with it in flight: %v, want %s again", ids(again), got[0].ID)
	}
}
