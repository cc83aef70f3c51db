package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// The outbox of notifications, and their delivery.

func init() {
	registerReopening("AddEventsWithNotifications", testAddEventsWithNotifications)
	register("AddEventsWithNotificationsRefuses", testAddEventsWithNotificationsRefuses)
	register("NextDueOrder", testNextDueOrder)
	register("NextDueLateEvent", testNextDueLateEvent)
	register("RecordAttemptBounds", testRecordAttemptBounds)
	register("Expire", testExpire)
	register("NotificationsPages", testNotificationsPages)
	register("RecordAttempts", testRecordAttempts)
	register("RecordAttemptGiveUp", testRecordAttemptGiveUp)
	register("NextDueConcurrent", testNextDueConcurrent)
}

// problem is an event of a schedule on an agent going critical at d.
func problem(agent, schedule string, d time.Duration) state.Event {
	return state.Event{Time: moment(d), Agent: agent, Schedule: schedule, Check: schedule, From: "ok", To: "critical", Message: "bad"}
}

// notify returns ev with a notification to each of the receivers of
// route, its document naming the event's time.
func notify(ev state.Event, route string, receivers ...int) state.EventNotifications {
	en := state.EventNotifications{Event: ev}
	for _, r := range receivers {
		doc := fmt.Sprintf(`{"kind":"problem","agent":%q,"time":%q}`, ev.Agent, ev.Time.Format(time.RFC3339Nano))
		en.Notify = append(en.Notify, state.Outgoing{Route: route, Receiver: r, Doc: json.RawMessage(doc)})
	}
	return en
}

func mustAdd(t testing.TB, db state.Store, ens ...state.EventNotifications) {
	t.Helper()
	if err := db.AddEventsWithNotifications(ens...); err != nil {
		t.Fatal(err)
	}
}

func listAll(t testing.TB, db state.Store, q state.NotificationQuery) []state.Notification {
	t.Helper()
	ns, _, err := db.Notifications(q)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func wantStats(t *testing.T, db state.Store, pending, retrying, delivered, expired int) {
	t.Helper()
	st, err := db.OutboxStats()
	if err != nil {
		t.Fatal(err)
	}
	want := map[state.NotificationState]int{state.NotifyPending: pending, state.NotifyRetrying: retrying, state.NotifyDelivered: delivered, state.NotifyExpired: expired}
	for s, n := range want {
		if st.Count[s] != n {
			t.Errorf("%s: %d, want %d (%v)", s, st.Count[s], n, st.Count)
		}
	}
}

func testAddEventsWithNotifications(t *testing.T, open Opener, reopen Reopener) {
	db := open(t)
	ack := state.Outgoing{Route: "oncall", Agent: "web-1", Schedule: "load", Doc: json.RawMessage(`{"kind":"acknowledgement"}`), Created: moment(3 * time.Second)}
	mustAdd(t, db,
		notify(problem("web-1", "load", time.Second), "oncall", 0, 1, 2),
		notify(problem("web-2", "disk", 2*time.Second), "oncall", 0),
		state.EventNotifications{Notify: []state.Outgoing{ack}}, // no event
	)
	db = reopen(t, db)
	evs, cursors, err := db.EventsPage(state.Query{})
	if err != nil || len(evs) != 2 {
		t.Fatalf("events %+v, %v", evs, err)
	}
	ns := listAll(t, db, state.NotificationQuery{})
	if len(ns) != 5 {
		t.Fatalf("%d notifications, want 5: %+v", len(ns), ns)
	}
	// Newest first: the acknowledgement, web-2's, then web-1's three.
	if ns[0].Event != "" || ns[0].Agent != "web-1" || !ns[0].Created.Equal(moment(3*time.Second)) {
		t.Errorf("notification of no event: %+v", ns[0])
	}
	if ns[1].Event != cursors[0] || ns[1].Agent != "web-2" || ns[1].Schedule != "disk" {
		t.Errorf("web-2's notification: %+v, want event %s", ns[1], cursors[0])
	}
	for i, n := range ns[2:] {
		if n.Event != cursors[1] || n.Receiver != 2-i || n.State != state.NotifyPending || !n.NextAt.Equal(moment(time.Second)) || n.Route != "oncall" {
			t.Errorf("web-1's notification %d: %+v", i, n)
		}
		if !strings.Contains(string(n.Doc), `"kind":"problem"`) || len(n.ID) != 2*12 {
			t.Errorf("notification %d: doc %s, id %q", i, n.Doc, n.ID)
		}
		got, err := db.Notification(n.ID)
		if err != nil || got.ID != n.ID {
			t.Errorf("state.Notification(%s) = %+v, %v", n.ID, got, err)
		}
	}
	wantStats(t, db, 5, 0, 0, 0)
	st, _ := db.OutboxStats()
	if !st.OldestOpen.Equal(moment(time.Second)) {
		t.Errorf("oldest open %v, want %v", st.OldestOpen, moment(time.Second))
	}
	// AddEvents alone still writes events alone.
	if err := db.AddEvents(problem("web-3", "load", 4*time.Second)); err != nil {
		t.Fatal(err)
	}
	wantStats(t, db, 5, 0, 0, 0)
}

// Bad input refuses the whole call: neither the events nor any of the
// notifications are stored.
func testAddEventsWithNotificationsRefuses(t *testing.T, open Opener) {
	db := open(t)
	good := notify(problem("web-1", "load", 0), "oncall", 0)
	for _, tc := range []struct {
		name string
		mod  func(*state.Outgoing)
	}{
		{"no-route", func(o *state.Outgoing) { o.Route = "" }},
		{"bad-receiver", func(o *state.Outgoing) { o.Receiver = -1 }},
		{"receiver-beyond", func(o *state.Outgoing) { o.Receiver = state.MaxReceivers }},
		{"not-json", func(o *state.Outgoing) { o.Doc = json.RawMessage(`{`) }},
		{"no-doc", func(o *state.Outgoing) { o.Doc = nil }},
		{"big-doc", func(o *state.Outgoing) {
			o.Doc = json.RawMessage(`"` + strings.Repeat("x", state.MaxNotificationDoc) + `"`)
		}},
		{"bad-agent", func(o *state.Outgoing) { o.Agent = "-x" }},
		{"bad-schedule", func(o *state.Outgoing) { o.Agent, o.Schedule = "a", "a\x00b" }},
		{"before-1970", func(o *state.Outgoing) { o.Created = time.Unix(-1, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := notify(problem("web-2", "disk", time.Second), "oncall", 0)
			tc.mod(&bad.Notify[0])
			if err := db.AddEventsWithNotifications(good, bad); !errors.Is(err, state.ErrInvalid) {
				t.Errorf("add = %v, want ErrInvalid", err)
			}
		})
	}
	noAgent := state.EventNotifications{Notify: []state.Outgoing{{Route: "r", Doc: json.RawMessage(`{}`), Created: moment(0)}}}
	if err := db.AddEventsWithNotifications(good, noAgent); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("notification of no event and no agent: %v, want ErrInvalid", err)
	}
	if evs, _ := db.Events(time.Time{}, time.Time{}, 0); len(evs) != 0 {
		t.Errorf("refused calls stored events: %+v", evs)
	}
	if ns := listAll(t, db, state.NotificationQuery{}); len(ns) != 0 {
		t.Errorf("refused calls stored notifications: %+v", ns)
	}
	wantStats(t, db, 0, 0, 0, 0)
}

// ids returns the ids of ns.
func ids(ns []state.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func nextDue(t *testing.T, db state.Store, now time.Time, limit int) []state.Notification {
	t.Helper()
	ns, err := db.NextDue(now, limit)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func record(t *testing.T, db state.Store, id string, when time.Time, outcome state.Outcome, next time.Time) {
	t.Helper()
	a := state.Attempt{Time: when, Answer: "200 OK"}
	if outcome == state.Retry {
		a = state.Attempt{Time: when, Answer: "503", Error: "service unavailable"}
	}
	if err := db.RecordAttempt(id, a, outcome, next); err != nil {
		t.Fatal(err)
	}
}

// A group's notifications (agent, schedule, route, receiver) go out one at
// a time and in order, whatever their next attempts say; other groups are
// not held up by it.
func testNextDueOrder(t *testing.T, open Opener) {
	db := open(t)
	mustAdd(t, db, notify(problem("web-1", "load", 0), "oncall", 0, 1))
	mustAdd(t, db, notify(problem("web-1", "load", time.Second), "oncall", 0)) // after web-1 load's first, same group as its receiver 0
	mustAdd(t, db, notify(problem("web-2", "load", 2*time.Second), "oncall", 0))
	all := listAll(t, db, state.NotificationQuery{})
	first0, first1, second0, web2 := all[3], all[2], all[1], all[0]
	if first0.Receiver != 0 || first1.Receiver != 1 || !second0.Created.Equal(moment(time.Second)) || web2.Agent != "web-2" {
		t.Fatalf("notifications %+v", all)
	}

	if got := nextDue(t, db, moment(-time.Second), 0); len(got) != 0 {
		t.Errorf("due before any was made: %v", ids(got))
	}
	// The heads of three groups, by their next attempt.
	got := nextDue(t, db, moment(time.Hour), 2)
	if want := []string{first0.ID, first1.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("first two due %v, want %v", ids(got), want)
	}
	got = nextDue(t, db, moment(time.Hour), 0)
	if want := []string{web2.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("then %v, want %v: the others are in flight", ids(got), want)
	}
	if got := nextDue(t, db, moment(time.Hour), 0); len(got) != 0 {
		t.Errorf("everything is in flight, yet %v", ids(got))
	}

	// first0 fails, to be tried at 1h+10s: second0 waits behind it.
	record(t, db, first0.ID, moment(time.Hour), state.Retry, moment(time.Hour+10*time.Second))
	if got := nextDue(t, db, moment(time.Hour+5*time.Second), 0); len(got) != 0 {
		t.Errorf("due while first0 waits for its retry: %v", ids(got))
	}
	got = nextDue(t, db, moment(time.Hour+10*time.Second), 0)
	if want := []string{first0.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("at its retry: %v, want %v", ids(got), want)
	}
	n, _ := db.Notification(first0.ID)
	if n.State != state.NotifyRetrying || n.AttemptCount != 1 || n.LastError() != "service unavailable" {
		t.Errorf("after a failed attempt: %+v", n)
	}
	wantStats(t, db, 3, 1, 0, 0)
	record(t, db, first0.ID, moment(time.Hour+11*time.Second), state.Delivered, time.Time{})
	got = nextDue(t, db, moment(time.Hour+11*time.Second), 0)
	if want := []string{second0.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("after first0's delivery: %v, want %v", ids(got), want)
	}
	n, _ = db.Notification(first0.ID)
	if n.State != state.NotifyDelivered || !n.Ended.Equal(moment(time.Hour+11*time.Second)) || n.AttemptCount != 2 || len(n.Attempts) != 2 {
		t.Errorf("delivered: %+v", n)
	}
	wantStats(t, db, 3, 0, 1, 0)

	// Given back, second0 is due again at once; left alone, the claims
	// on first1 and web2 hold until their attempts are recorded. (The
	// bbolt store's hold them whatever the clock says, in memory; the
	// PostgreSQL store's are in the rows, for helens that may die, and
	// last their lease, pgstore.DeliveryLease, 10 minutes: what is
	// tested here is within it.)
	if err := db.Release(second0.ID); err != nil {
		t.Fatal(err)
	}
	got = nextDue(t, db, moment(time.Hour+11*time.Second), 0)
	if want := []string{second0.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("after Release: %v, want %v", ids(got), want)
	}
	later := moment(time.Hour + 5*time.Minute)
	if got := nextDue(t, db, later, 0); len(got) != 0 {
		t.Errorf("later, in flight still, yet given out again: %v", ids(got))
	}
	record(t, db, first1.ID, later, state.Retry, later)
	if err := db.Release("not-an-id"); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("Release of a bad id: %v, want ErrInvalid", err)
	}
	got = nextDue(t, db, later, 0)
	if want := []string{first1.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("after first1's attempt: %v, want %v", ids(got), want)
	}
	// A late attempt at a delivered one is recorded and changes nothing.
	record(t, db, first0.ID, moment(2*time.Hour), state.Retry, moment(3*time.Hour))
	if n, _ = db.Notification(first0.ID); n.State != state.NotifyDelivered || n.AttemptCount != 3 {
		t.Errorf("attempt after delivery: %+v", n)
	}
	wantStats(t, db, 2, 1, 1, 0) // first1 retrying
}

// An event that comes late (earlier than one stored already) goes before
// it in its group.
func testNextDueLateEvent(t *testing.T, open Opener) {
	db := open(t)
	mustAdd(t, db, notify(problem("a", "s", time.Minute), "r", 0))
	mustAdd(t, db, notify(problem("a", "s", 0), "r", 0))
	got := nextDue(t, db, moment(time.Hour), 0)
	if len(got) != 1 || !got[0].Created.Equal(moment(0)) {
		t.Fatalf("due %+v, want the earlier one alone", got)
	}
	record(t, db, got[0].ID, moment(time.Hour), state.Delivered, time.Time{})
	got = nextDue(t, db, moment(time.Hour), 0)
	if len(got) != 1 || !got[0].Created.Equal(moment(time.Minute)) {
		t.Fatalf("then %+v, want the later one", got)
	}
}

func testRecordAttemptBounds(t *testing.T, open Opener) {
	db := open(t)
	mustAdd(t, db, notify(problem("a", "s", 0), "r", 0))
	id := listAll(t, db, state.NotificationQuery{})[0].ID
	for i := range state.MaxAttemptsKept + 5 {
		a := state.Attempt{Time: moment(time.Duration(i) * time.Second), Answer: strings.Repeat("a", 10*state.MaxAnswer), Error: fmt.Sprint(i) + strings.Repeat("e", 10*state.MaxAnswer)}
		if err := db.RecordAttempt(id, a, state.Retry, moment(time.Duration(i+1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	n, _ := db.Notification(id)
	if n.AttemptCount != state.MaxAttemptsKept+5 || len(n.Attempts) != state.MaxAttemptsKept || !strings.HasPrefix(n.Attempts[0].Error, "5") {
		t.Errorf("%d attempts counted, %d kept, first kept %.5q", n.AttemptCount, len(n.Attempts), n.Attempts[0].Error)
	}
	for _, a := range n.Attempts {
		if len(a.Answer) > state.MaxAnswer || len(a.Error) > state.MaxAnswer || !strings.Contains(a.Error, "[cut from") {
			t.Fatalf("attempt not cut to %d bytes: %d, %d", state.MaxAnswer, len(a.Answer), len(a.Error))
		}
	}
	if !n.NextAt.Equal(moment(time.Duration(state.MaxAttemptsKept+5) * time.Second)) {
		t.Errorf("next at %v", n.NextAt)
	}
	for name, err := range map[string]error{
		"bad-id":      db.RecordAttempt("xyz", state.Attempt{}, state.Delivered, time.Time{}),
		"bad-outcome": db.RecordAttempt(id, state.Attempt{}, 0, time.Time{}),
		"retry-never": db.RecordAttempt(id, state.Attempt{}, state.Retry, time.Time{}),
	} {
		if !errors.Is(err, state.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if err := db.RecordAttempt(strings.Repeat("0", 2*12), state.Attempt{}, state.Delivered, time.Time{}); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
	if n2, _ := db.Notification(id); n2.AttemptCount != n.AttemptCount {
		t.Errorf("refused attempts recorded: %d", n2.AttemptCount)
	}
}

// Past their age, open notifications are recorded expired, and listed;
// the next of their group takes their place.
func testExpire(t *testing.T, open Opener) {
	db := open(t)
	mustAdd(t, db, notify(problem("a", "s", 0), "r", 0))
	mustAdd(t, db, notify(problem("a", "s", time.Hour), "r", 0))
	mustAdd(t, db, notify(problem("b", "s", 2*time.Hour), "r", 0))
	all := listAll(t, db, state.NotificationQuery{})
	old, newer, bs := all[2], all[1], all[0]
	// The oldest alone: b's is left out of flight, which lasts a lease on
	// PostgreSQL, but for ever on bbolt, as TestNextDueOrder says.
	got := nextDue(t, db, moment(3*time.Hour), 1)
	if len(got) != 1 || got[0].ID != old.ID {
		t.Fatalf("due %v", ids(got))
	}
	record(t, db, old.ID, moment(3*time.Hour), state.Retry, moment(4*time.Hour))

	if _, err := db.Expire(moment(0), 0); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("Expire with no age: %v", err)
	}
	n, err := db.Expire(moment(24*time.Hour+30*time.Minute), 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	e, _ := db.Notification(old.ID)
	if e.State != state.NotifyExpired || !e.Ended.Equal(moment(24*time.Hour+30*time.Minute)) || e.AttemptCount != 1 {
		t.Errorf("expired: %+v", e)
	}
	wantStats(t, db, 2, 0, 0, 1)
	if ex := listAll(t, db, state.NotificationQuery{State: state.NotifyExpired}); len(ex) != 1 || ex[0].ID != old.ID {
		t.Errorf("expired listed %v", ids(ex))
	}
	// Its group's next is due; the expired one never again.
	got = nextDue(t, db, moment(25*time.Hour), 0)
	if want := []string{newer.ID, bs.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("due after expiry %v, want %v", ids(got), want)
	}
	st, _ := db.OutboxStats()
	if !st.OldestOpen.Equal(moment(time.Hour)) {
		t.Errorf("oldest open %v", st.OldestOpen)
	}
	// Delivered after all (its worker was slow): delivered.
	record(t, db, old.ID, moment(25*time.Hour), state.Delivered, time.Time{})
	wantStats(t, db, 2, 0, 1, 0)
	if n, err := db.Expire(moment(100*time.Hour), 24*time.Hour); err != nil || n != 2 {
		t.Errorf("Expire of the rest = %d, %v", n, err)
	}
	wantStats(t, db, 0, 0, 1, 2)
	if got := nextDue(t, db, moment(100*time.Hour), 0); len(got) != 0 {
		t.Errorf("due with all expired: %v", ids(got))
	}
	st, _ = db.OutboxStats()
	if !st.OldestOpen.IsZero() {
		t.Errorf("oldest open %v with none open", st.OldestOpen)
	}
}

func testNotificationsPages(t *testing.T, open Opener) {
	db := open(t)
	for i := range 10 {
		mustAdd(t, db, notify(problem(fmt.Sprintf("a%d", i%2), "s", time.Duration(i)*time.Second), "r", 0))
	}
	due := nextDue(t, db, moment(time.Hour), 0)
	for _, n := range due { // the heads of a0 and a1: made at 0 and 1s
		record(t, db, n.ID, moment(time.Hour), state.Delivered, time.Time{})
	}
	for _, tc := range []struct {
		name  string
		q     state.NotificationQuery
		count int
		first time.Duration
	}{
		{"all", state.NotificationQuery{}, 10, 9 * time.Second},
		{"limit", state.NotificationQuery{Query: state.Query{Limit: 3}}, 3, 9 * time.Second},
		{"since", state.NotificationQuery{Query: state.Query{Since: moment(5 * time.Second)}}, 5, 9 * time.Second},
		{"until", state.NotificationQuery{Query: state.Query{Until: moment(5 * time.Second)}}, 5, 4 * time.Second},
		{"pending", state.NotificationQuery{State: state.NotifyPending}, 8, 9 * time.Second},
		{"pending-since", state.NotificationQuery{State: state.NotifyPending, Query: state.Query{Since: moment(8 * time.Second)}}, 2, 9 * time.Second},
		{"delivered", state.NotificationQuery{State: state.NotifyDelivered}, 2, time.Second},
		{"agent", state.NotificationQuery{Agent: "a1"}, 5, 9 * time.Second},
		{"agent-delivered", state.NotificationQuery{Agent: "a0", State: state.NotifyDelivered}, 1, 0},
		{"none", state.NotificationQuery{State: state.NotifyExpired}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := listAll(t, db, tc.q)
			if len(got) != tc.count || (tc.count > 0 && !got[0].Created.Equal(moment(tc.first))) {
				t.Errorf("got %d from %v, want %d from %v", len(got), got, tc.count, tc.first)
			}
		})
	}
	// Pages of 3 of the pending ones, each after the previous one's last
	// cursor, read each once.
	var seen []string
	after := ""
	for range 10 {
		ns, cursors, err := db.Notifications(state.NotificationQuery{State: state.NotifyPending, Query: state.Query{Limit: 3, After: after}})
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) == 0 {
			break
		}
		seen = append(seen, ids(ns)...)
		after = cursors[len(cursors)-1]
	}
	if len(seen) != 8 {
		t.Errorf("pages of pending ones read %d, want 8", len(seen))
	}
	if _, _, err := db.Notifications(state.NotificationQuery{State: "lost"}); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("unknown state: %v", err)
	}
	if _, _, err := db.Notifications(state.NotificationQuery{Query: state.Query{After: "!"}}); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("bad cursor: %v", err)
	}
}

// RecordAttempts records a batch in one transaction and ends its claims;
// an invalid record makes it record none; one of a notification gone is
// left out, the others recorded.
func testRecordAttempts(t *testing.T, open Opener) {
	db := open(t)
	mustAdd(t, db, notify(problem("a", "s", 0), "r", 0))
	mustAdd(t, db, notify(problem("b", "s", 0), "r", 0))
	got := nextDue(t, db, moment(time.Hour), 0)
	if len(got) != 2 {
		t.Fatalf("due %v", ids(got))
	}
	ok := func(id string) state.AttemptRecord {
		return state.AttemptRecord{ID: id, Attempt: state.Attempt{Time: moment(time.Hour)}, Outcome: state.Delivered}
	}
	bad := state.AttemptRecord{ID: got[1].ID, Outcome: 0}
	if err := db.RecordAttempts(ok(got[0].ID), bad); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("with an invalid record: %v, want ErrInvalid", err)
	}
	wantStats(t, db, 2, 0, 0, 0)
	gone := strings.Repeat("0", 2*12)
	err := db.RecordAttempts(ok(got[0].ID), ok(gone), state.AttemptRecord{ID: got[1].ID, Attempt: state.Attempt{Time: moment(time.Hour)}, Outcome: state.Retry, NextAt: moment(2 * time.Hour)})
	if !errors.Is(err, state.ErrNotFound) || !strings.Contains(err.Error(), gone) {
		t.Errorf("with a record of no notification: %v, want state.ErrNotFound naming it", err)
	}
	wantStats(t, db, 0, 1, 1, 0)
	// Their claims ended: the retry is given out again when due.
	if again := nextDue(t, db, moment(2*time.Hour), 0); len(again) != 1 || again[0].ID != got[1].ID {
		t.Errorf("after the batch: due %v, want %s", ids(again), got[1].ID)
	}
}

// A notification given up on ends expired with its error, and the next
// of its group is due in its place.
func testRecordAttemptGiveUp(t *testing.T, open Opener) {
	db := open(t)
	mustAdd(t, db, notify(problem("a", "s", 0), "r", 0), notify(problem("a", "s", time.Second), "r", 0))
	due, err := db.NextDue(moment(time.Minute), 0)
	if err != nil || len(due) != 1 {
		t.Fatalf("due: %v, %v", due, err)
	}
	if err := db.RecordAttempt(due[0].ID, state.Attempt{Time: moment(time.Minute), Error: "400 Bad Request"}, state.GiveUp, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n, _ := db.Notification(due[0].ID)
	if n.State != state.NotifyExpired || !n.Ended.Equal(moment(time.Minute)) || n.LastError() != "400 Bad Request" {
		t.Errorf("given up: %+v", n)
	}
	wantStats(t, db, 1, 0, 0, 1)
	next, err := db.NextDue(moment(time.Minute), 0)
	if err != nil || len(next) != 1 || next[0].ID == due[0].ID {
		t.Errorf("due after giving up: %v, %v; want the second", next, err)
	}
}

// Workers that take due notifications concurrently never hold two of one
// group at once, and deliver each group's in the order they were made,
// though attempts fail at random and are retried.
func testNextDueConcurrent(t *testing.T, open Opener) {
	db := open(t)
	const agents, each = 8, 25
	for i := range each {
		var ens []state.EventNotifications
		for a := range agents {
			ens = append(ens, notify(problem(string(rune('a'+a))+"gent", "load", time.Duration(i)*time.Second), "oncall", 0, 1))
		}
		mustAdd(t, db, ens...)
	}
	total := agents * each * 2
	var (
		mu        sync.Mutex
		inFlight  = map[string]string{} // group -> id
		delivered = map[string][]time.Time{}
		count     int
	)
	group := func(n state.Notification) string {
		return fmt.Sprintf("%q %q %q %d", n.Agent, n.Schedule, n.Route, n.Receiver)
	}
	now := moment(time.Hour)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				mu.Lock()
				finished := count == total
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
					if other, ok := inFlight[group(n)]; ok {
						t.Errorf("%s and %s of one group in flight at once", other, n.ID)
					}
					inFlight[group(n)] = n.ID
				}
				mu.Unlock()
				for j, n := range due {
					outcome := state.Delivered
					if (w+i+j)%3 == 0 {
						outcome = state.Retry
					}
					// Out of the map before the record: once recorded,
					// another worker may take the group at once.
					mu.Lock()
					delete(inFlight, group(n))
					if outcome == state.Delivered {
						delivered[group(n)] = append(delivered[group(n)], n.Created)
						count++
					}
					mu.Unlock()
					if err := db.RecordAttempt(n.ID, state.Attempt{Time: now}, outcome, now); err != nil {
						t.Error(err)
						return
					}
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
				t.Errorf("group %q: %v delivered after %v", g, times[i], times[i-1])
			}
		}
		if len(times) != each {
			t.Errorf("group %q: %d delivered, want %d", g, len(times), each)
		}
	}
	wantStats(t, db, 0, 0, total, 0)
}
