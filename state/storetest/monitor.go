package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// The monitor's records: schedules, statuses, agents down, events,
// routes, silences and acknowledgements.

func init() {
	registerReopening("Schedules", testSchedules)
	register("PutScheduleRefuses", testPutScheduleRefuses)
	register("ScheduleConfirmationBounds", testScheduleConfirmationBounds)
	registerReopening("Statuses", testStatuses)
	registerReopening("AgentsDown", testAgentsDown)
	registerReopening("StatusConfirmationRoundTrip", testStatusConfirmationRoundTrip)
	registerReopening("Events", testEvents)
	register("EventsConcurrent", testEventsConcurrent)
	register("EventsPages", testEventsPages)
	register("EventsBadCursor", testEventsBadCursor)
	registerReopening("Routes", testRoutes)
	register("PutRouteRefuses", testPutRouteRefuses)
	register("RoutesBounded", testRoutesBounded)
	registerReopening("Silences", testSilences)
	register("AddSilenceRefuses", testAddSilenceRefuses)
	registerReopening("Acks", testAcks)
	registerReopening("AckWithNotifications", testAckWithNotifications)
	register("NotifyGeneration", testNotifyGeneration)
}

func testSchedules(t *testing.T, open Opener, reopen Reopener) {
	db := open(t)
	s := state.Schedule{Name: "load", Check: "load", Every: time.Minute, Timeout: 30 * time.Second, Agents: "web-*", Created: moment(0), Updated: moment(0)}
	if err := db.PutSchedule(s); err != nil {
		t.Fatal(err)
	}
	s2 := state.Schedule{Name: "disk", Check: "disk", Args: json.RawMessage(`{"path":"/"}`), Every: time.Second, Agents: "*", Created: moment(0), Updated: moment(0)}
	if err := db.PutSchedule(s2); err != nil {
		t.Fatal(err)
	}
	// Replacing keeps the creation time.
	s.Every, s.Created, s.Updated = 2*time.Minute, moment(time.Hour), moment(time.Hour)
	if err := db.PutSchedule(s); err != nil {
		t.Fatal(err)
	}
	got, err := db.Schedule("load")
	if err != nil {
		t.Fatal(err)
	}
	if got.Every != 2*time.Minute || !got.Created.Equal(moment(0)) || !got.Updated.Equal(moment(time.Hour)) {
		t.Errorf("replaced schedule = %+v", got)
	}
	db = reopen(t, db)
	all, err := db.Schedules()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "disk" || all[1].Name != "load" || string(all[0].Args) != `{"path":"/"}` {
		t.Fatalf("schedules = %+v", all)
	}
	if err := db.PutStatuses(state.Status{Agent: "a", Schedule: "disk", Status: "ok"}, state.Status{Agent: "a", Schedule: "load", Status: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSchedule("disk"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSchedule("disk"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := db.Schedule("disk"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("deleted schedule: %v, want ErrNotFound", err)
	}
	sts, err := db.Statuses("")
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].Schedule != "load" {
		t.Errorf("statuses after deleting disk = %+v, want load's only", sts)
	}
}

func testPutScheduleRefuses(t *testing.T, open Opener) {
	db := open(t)
	for name, s := range map[string]state.Schedule{
		"no-name":  {Check: "load", Every: time.Second},
		"no-check": {Name: "x", Every: time.Second},
		"no-every": {Name: "x", Check: "load"},
		"bad-args": {Name: "x", Check: "load", Every: time.Second, Args: json.RawMessage(`{`)},
		"nul-name": {Name: "a\x00b", Check: "load", Every: time.Second},
	} {
		if err := db.PutSchedule(s); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// testScheduleConfirmationBounds: attempts beyond 1 to MaxAttempts, or a
// retry interval longer than the interval, are refused.
func testScheduleConfirmationBounds(t *testing.T, open Opener) {
	db := open(t)
	for _, s := range []state.Schedule{
		{Name: "a", Check: "c", Every: time.Minute, Attempts: state.MaxAttempts + 1},
		{Name: "b", Check: "c", Every: time.Minute, Attempts: -1},
		{Name: "c", Check: "c", Every: time.Minute, RetryEvery: time.Minute + 1},
		{Name: "d", Check: "c", Every: time.Minute, RetryEvery: -1},
	} {
		if err := db.PutSchedule(s); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("put %+v: %v, want ErrInvalid", s, err)
		}
	}
	if ss, err := db.Schedules(); err != nil || len(ss) != 0 {
		t.Errorf("schedules stored: %+v, %v", ss, err)
	}
	s := state.Schedule{Name: "ok", Check: "c", Every: time.Minute, Attempts: state.MaxAttempts, RetryEvery: time.Second}
	if err := db.PutSchedule(s); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Schedule("ok"); err != nil || got.Attempts != state.MaxAttempts || got.RetryEvery != time.Second {
		t.Errorf("stored %+v, %v", got, err)
	}
}

func testStatuses(t *testing.T, open Opener, reopen Reopener) {
	db := open(t)
	in := []state.Status{
		{Agent: "web-1", Schedule: "load", Check: "load", Status: "critical", Since: moment(0), Previous: "ok", Message: "load 9", Time: moment(time.Second),
			Metrics: []state.Metric{{Name: "load1", Value: 9}}},
		{Agent: "web-1", Schedule: "disk", Check: "disk", Status: "ok", Since: moment(0), Time: moment(0)},
		{Agent: "web-10", Schedule: "load", Check: "load", Status: "ok", Since: moment(0), Time: moment(0)},
	}
	if err := db.PutStatuses(in...); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db)
	all, err := db.Statuses("")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Schedule != "disk" || all[1].Schedule != "load" || all[2].Agent != "web-10" {
		t.Fatalf("statuses = %+v", all)
	}
	if got := all[1]; got.Status != "critical" || got.Previous != "ok" || got.Message != "load 9" || len(got.Metrics) != 1 || !got.Time.Equal(moment(time.Second)) {
		t.Errorf("web-1 load = %+v", got)
	}
	// An agent's prefix does not take in another agent whose name starts
	// the same.
	one, err := db.Statuses("web-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 2 {
		t.Errorf("statuses of web-1 = %+v, want 2", one)
	}
	if err := db.DeleteStatus("web-1", "load"); err != nil {
		t.Fatal(err)
	}
	if one, _ = db.Statuses("web-1"); len(one) != 1 || one[0].Schedule != "disk" {
		t.Errorf("after delete = %+v", one)
	}
	if err := db.PutStatuses(state.Status{Agent: "a", Schedule: "s", Status: "bad"}); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("bad status: %v, want ErrInvalid", err)
	}
}

func testAgentsDown(t *testing.T, open Opener, reopen Reopener) {
	db := open(t)
	if err := db.SetAgentDown("web-1", moment(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetAgentDown("web-2", moment(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetAgentDown("web-2", time.Time{}); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db)
	down, err := db.AgentsDown()
	if err != nil {
		t.Fatal(err)
	}
	if len(down) != 1 || !down["web-1"].Equal(moment(time.Minute)) {
		t.Errorf("down = %v, want web-1 only", down)
	}
}

// testStatusConfirmationRoundTrip: a status's state type, attempts,
// confirmed status and flap window are stored as they are, and bad ones
// refused.
func testStatusConfirmationRoundTrip(t *testing.T, open Opener, reopen Reopener) {
	db := open(t)
	in := state.Status{Agent: "web-1", Schedule: "s", Check: "c", Status: "critical", Since: moment(0), Time: moment(0),
		StateType: state.Soft, Attempt: 2, MaxAttempts: 3, HardStatus: "ok", FlapWindow: 0b1011, FlapPercent: 12.5, Flapping: true}
	if err := db.PutStatuses(in); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db)
	got, err := db.Statuses("web-1")
	if err != nil || len(got) != 1 {
		t.Fatalf("statuses %+v, %v", got, err)
	}
	if g := got[0]; g.StateType != state.Soft || g.Attempt != 2 || g.MaxAttempts != 3 || g.HardStatus != "ok" || g.FlapWindow != 0b1011 || g.FlapPercent != 12.5 || !g.Flapping {
		t.Errorf("stored %+v, want %+v", g, in)
	}
	for _, bad := range []state.Status{
		{Agent: "web-1", Schedule: "s", Status: "ok", StateType: "maybe"},
		{Agent: "web-1", Schedule: "s", Status: "ok", HardStatus: "fine"},
		{Agent: "web-1", Schedule: "s", Status: "ok", FlapWindow: 1 << state.FlapWindow},
	} {
		if err := db.PutStatuses(bad); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("put %+v: %v, want ErrInvalid", bad, err)
		}
	}
}

func testEvents(t *testing.T, open Opener, reopen Reopener) {
	db := open(t)
	// Out of order, and two at the same instant: both kept, in time order.
	evs := []state.Event{
		{Time: moment(2 * time.Second), Agent: "a", Schedule: "load", From: "ok", To: "critical", Message: "load 9"},
		{Time: moment(0), Agent: "a", Schedule: "load", From: "", To: "ok"},
		{Time: moment(time.Second), Agent: "b", From: "up", To: "down"},
		{Time: moment(time.Second), Agent: "c", From: "up", To: "down"},
	}
	for _, ev := range evs {
		if err := db.AddEvents(ev); err != nil {
			t.Fatal(err)
		}
	}
	db = reopen(t, db)
	all, err := db.Events(time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "c", "a"}
	if len(all) != len(want) {
		t.Fatalf("events = %+v", all)
	}
	for i, ev := range all {
		if ev.Agent != want[i] {
			t.Errorf("event %d agent %s, want %s (%+v)", i, ev.Agent, want[i], all)
		}
	}
	for _, tc := range []struct {
		name         string
		since, until time.Time
		limit        int
		want         int
		first        string
	}{
		{"since", moment(time.Second), time.Time{}, 0, 3, "b"},
		{"until", time.Time{}, moment(2 * time.Second), 0, 3, "a"},
		{"limit-keeps-newest", time.Time{}, time.Time{}, 2, 2, "c"},
		{"window", moment(time.Second), moment(2 * time.Second), 0, 2, "b"},
		{"empty", moment(time.Hour), time.Time{}, 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Events(tc.since, tc.until, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want || (tc.want > 0 && got[0].Agent != tc.first) {
				t.Errorf("got %+v, want %d from %s", got, tc.want, tc.first)
			}
		})
	}
	n, err := db.PruneEvents(moment(2 * time.Second))
	if err != nil || n != 3 {
		t.Fatalf("prune: %d, %v; want 3", n, err)
	}
	if left, _ := db.Events(time.Time{}, time.Time{}, 0); len(left) != 1 || left[0].To != "critical" {
		t.Errorf("after prune: %+v", left)
	}
}

func testEventsConcurrent(t *testing.T, open Opener) {
	db := open(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.AddEvents(state.Event{Time: moment(0), Agent: "a", From: "up", To: "down", Message: string(rune('A' + i%26))}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	all, err := db.Events(time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 50 {
		t.Errorf("%d events kept of 50 at the same instant", len(all))
	}
}

func testEventsPages(t *testing.T, open Opener) {
	db := open(t)
	var evs []state.Event
	for i := range 25 {
		// Pairs at the same instant.
		evs = append(evs, state.Event{Time: moment(time.Duration(i/2) * time.Second), Agent: "web", From: "up", To: "down", Message: fmt.Sprint(i)})
	}
	if err := db.AddEvents(evs...); err != nil {
		t.Fatal(err)
	}
	var got []string
	q := state.Query{Limit: 4}
	for {
		page, cursors, err := db.EventsPage(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page {
			got = append(got, ev.Message)
		}
		if len(page) < q.Limit {
			break
		}
		q.After = cursors[len(cursors)-1]
	}
	var want []string
	for i := 24; i >= 0; i-- {
		want = append(want, fmt.Sprint(i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages give %v, want %v", got, want)
	}
}

func webhook(url string) state.Receiver {
	return state.Receiver{Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: url, Timeout: 5 * time.Second}}
}

func testRoutes(t *testing.T, open Opener, reopen Reopener) {
	db := open(t)
	r := state.Route{
		Name: "oncall",
		Receivers: []state.Receiver{
			webhook("https://hooks.example.com/x"),
			{Kind: state.KindAlertmanager, Alertmanager: &state.AlertmanagerReceiver{URL: "http://127.0.0.1:9093"}},
			{Kind: state.KindEmail, Email: &state.EmailReceiver{To: []string{"ops@example.com"}, SMTP: "mail:587", User: "u", PasswordFile: "/etc/pw", From: "helen@example.com"}},
			{Kind: state.KindExec, Exec: &state.ExecReceiver{Program: "/usr/local/bin/page", Timeout: time.Minute}},
		},
		Agents: "web-*", Schedules: "disk-*", Statuses: []string{"critical"},
		Renotify: time.Hour, NoRecovery: true, Created: moment(0), Updated: moment(0),
	}
	if err := db.PutRoute(r); err != nil {
		t.Fatal(err)
	}
	if err := db.PutRoute(state.Route{Name: "all", Receivers: []state.Receiver{webhook("http://h/")}, Created: moment(0), Updated: moment(0)}); err != nil {
		t.Fatal(err)
	}
	// Replacing keeps the creation time.
	r2 := r
	r2.Renotify, r2.Created, r2.Updated = 2*time.Hour, moment(time.Hour), moment(time.Hour)
	if err := db.PutRoute(r2); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db)
	got, err := db.Route("oncall")
	if err != nil {
		t.Fatal(err)
	}
	want := r2
	want.Created = moment(0)
	if !reflect.DeepEqual(normal(got), normal(want)) {
		t.Errorf("route = %+v\nwant %+v", got, want)
	}
	all, err := db.Routes()
	if err != nil || len(all) != 2 || all[0].Name != "all" || all[1].Name != "oncall" {
		t.Fatalf("routes = %+v, %v", all, err)
	}
	if err := db.DeleteRoute("all"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteRoute("all"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := db.Route("all"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("deleted route: %v, want ErrNotFound", err)
	}
}

// normal gives times one location, so that DeepEqual compares instants.
func normal(r state.Route) state.Route {
	r.Created, r.Updated = r.Created.UTC(), r.Updated.UTC()
	return r
}

func testPutRouteRefuses(t *testing.T, open Opener) {
	db := open(t)
	ok := func(mod func(*state.Route)) state.Route {
		r := state.Route{Name: "r", Receivers: []state.Receiver{webhook("https://h/x")}}
		mod(&r)
		return r
	}
	email := func(mod func(*state.EmailReceiver)) func(*state.Route) {
		return func(r *state.Route) {
			e := &state.EmailReceiver{To: []string{"a@b.c"}, SMTP: "h:25"}
			mod(e)
			r.Receivers = []state.Receiver{{Kind: state.KindEmail, Email: e}}
		}
	}
	for _, tc := range []struct {
		name string
		r    state.Route
	}{
		{"no-name", ok(func(r *state.Route) { r.Name = "" })},
		{"nul-name", ok(func(r *state.Route) { r.Name = "a\x00b" })},
		{"no-receiver", ok(func(r *state.Route) { r.Receivers = nil })},
		{"too-many-receivers", ok(func(r *state.Route) {
			for range state.MaxReceivers {
				r.Receivers = append(r.Receivers, webhook("http://h/"))
			}
		})},
		{"bad-agents", ok(func(r *state.Route) { r.Agents = "[" })},
		{"bad-schedules", ok(func(r *state.Route) { r.Schedules = "a[" })},
		{"bad-status", ok(func(r *state.Route) { r.Statuses = []string{"critical", "ok"} })},
		{"negative-renotify", ok(func(r *state.Route) { r.Renotify = -time.Second })},
		{"no-kind", ok(func(r *state.Route) { r.Receivers[0].Kind = "" })},
		{"kind-mismatch", ok(func(r *state.Route) { r.Receivers[0].Kind = state.KindExec })},
		{"two-specs", ok(func(r *state.Route) { r.Receivers[0].Exec = &state.ExecReceiver{Program: "x"} })},
		{"webhook-ftp", ok(func(r *state.Route) { r.Receivers[0].Webhook.URL = "ftp://h/" })},
		{"webhook-no-host", ok(func(r *state.Route) { r.Receivers[0].Webhook.URL = "http:///x" })},
		{"webhook-template-big", ok(func(r *state.Route) { r.Receivers[0].Webhook.Template = strings.Repeat("x", state.MaxTemplate+1) })},
		{"webhook-timeout", ok(func(r *state.Route) { r.Receivers[0].Webhook.Timeout = state.MaxReceiverTimeout + 1 })},
		{"alertmanager-url", ok(func(r *state.Route) {
			r.Receivers = []state.Receiver{{Kind: state.KindAlertmanager, Alertmanager: &state.AlertmanagerReceiver{URL: "localhost:9093"}}}
		})},
		{"email-no-to", ok(email(func(e *state.EmailReceiver) { e.To = nil }))},
		{"email-bad-to", ok(email(func(e *state.EmailReceiver) { e.To = []string{"not an address"} }))},
		{"email-bad-from", ok(email(func(e *state.EmailReceiver) { e.From = "@" }))},
		{"email-no-port", ok(email(func(e *state.EmailReceiver) { e.SMTP = "mail.example.com" }))},
		{"exec-no-program", ok(func(r *state.Route) {
			r.Receivers = []state.Receiver{{Kind: state.KindExec, Exec: &state.ExecReceiver{}}}
		})},
		{"exec-timeout", ok(func(r *state.Route) {
			r.Receivers = []state.Receiver{{Kind: state.KindExec, Exec: &state.ExecReceiver{Program: "x", Timeout: -1}}}
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := db.PutRoute(tc.r); !errors.Is(err, state.ErrInvalid) {
				t.Errorf("PutRoute = %v, want ErrInvalid", err)
			}
		})
	}
	if rs, err := db.Routes(); err != nil || len(rs) != 0 {
		t.Errorf("refused routes stored: %+v, %v", rs, err)
	}
}

func testRoutesBounded(t *testing.T, open Opener) {
	db := open(t)
	for i := range state.MaxRoutes {
		if err := db.PutRoute(state.Route{Name: fmt.Sprint(i), Receivers: []state.Receiver{webhook("http://h/")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutRoute(state.Route{Name: "one-more", Receivers: []state.Receiver{webhook("http://h/")}}); !errors.Is(err, state.ErrFull) {
		t.Errorf("route beyond MaxRoutes: %v, want ErrFull", err)
	}
	// Replacing one is still allowed.
	if err := db.PutRoute(state.Route{Name: "7", Receivers: []state.Receiver{webhook("http://other/")}}); err != nil {
		t.Errorf("replacing a route at the bound: %v", err)
	}
}

func silence(agents string, start, end time.Duration) state.Silence {
	return state.Silence{Agents: agents, Start: moment(start), End: moment(end), Comment: "maintenance", Author: "ops", Created: moment(0)}
}

func testSilences(t *testing.T, open Opener, reopen Reopener) {
	db := open(t)
	a, err := db.AddSilence(silence("web-*", time.Hour, 3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	b := silence("db-1", 0, time.Hour)
	b.Schedules, b.ExpireOnResolve, b.Start = "disk-*", true, time.Time{}
	b, err = db.AddSilence(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.ID) != 8 || a.ID == b.ID || strings.Trim(a.ID, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		t.Errorf("ids %q and %q: want two distinct of %d letters and digits", a.ID, b.ID, 8)
	}
	if !b.Start.Equal(moment(0)) {
		t.Errorf("start of a silence without one = %v, want its creation", b.Start)
	}
	all, err := db.Silences()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != b.ID || all[1].ID != a.ID || !all[0].ExpireOnResolve || all[0].Schedules != "disk-*" || all[1].Author != "ops" {
		t.Fatalf("silences = %+v", all)
	}
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{-time.Second, false}, {time.Hour, true}, {2 * time.Hour, true}, {3 * time.Hour, false}} {
		if got := all[1].Active(moment(tc.at)); got != tc.want {
			t.Errorf("Active at %v = %v, want %v", tc.at, got, tc.want)
		}
	}
	// Expire on resolve: ended early, never later than it was.
	if err := db.EndSilence(b.ID, moment(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSilence(b.ID, moment(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSilence("nosuchid", moment(0)); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("EndSilence of an unknown id = %v", err)
	}
	all, _ = db.Silences()
	if !all[0].End.Equal(moment(30 * time.Minute)) {
		t.Errorf("ended silence ends at %v, want 30m", all[0].End)
	}
	// Kept SilenceKeep after its end, then pruned, by Prune too.
	// Both stores prune silences by PruneSilences, which their Prune
	// calls.
	db = reopen(t, db)
	pruner, ok := db.(interface{ PruneSilences(time.Time) (int, error) })
	if !ok {
		t.Fatalf("%T has no PruneSilences", db)
	}
	if n, err := pruner.PruneSilences(moment(30*time.Minute + state.SilenceKeep)); err != nil || n != 0 {
		t.Errorf("prune at the keep: %d, %v; want 0", n, err)
	}
	if _, err := db.Prune(moment(30*time.Minute + state.SilenceKeep + time.Second)); err != nil {
		t.Fatal(err)
	}
	if all, _ = db.Silences(); len(all) != 1 || all[0].ID != a.ID {
		t.Errorf("after prune: %+v, want %s alone", all, a.ID)
	}
	if err := db.DeleteSilence(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSilence(a.ID); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func testAddSilenceRefuses(t *testing.T, open Opener) {
	db := open(t)
	for _, tc := range []struct {
		name string
		mod  func(*state.Silence)
	}{
		{"no-agents", func(s *state.Silence) { s.Agents = "" }},
		{"bad-agents", func(s *state.Silence) { s.Agents = "[" }},
		{"bad-schedules", func(s *state.Silence) { s.Schedules = "[" }},
		{"no-comment", func(s *state.Silence) { s.Comment = "" }},
		{"long-comment", func(s *state.Silence) { s.Comment = strings.Repeat("x", state.MaxComment+1) }},
		{"bad-utf8", func(s *state.Silence) { s.Comment = "\xff" }},
		{"long-author", func(s *state.Silence) { s.Author = strings.Repeat("x", state.MaxComment+1) }},
		{"ends-at-start", func(s *state.Silence) { s.End = s.Start }},
		{"ends-before", func(s *state.Silence) { s.End = s.Start.Add(-time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := silence("*", 0, time.Hour)
			tc.mod(&s)
			if _, err := db.AddSilence(s); !errors.Is(err, state.ErrInvalid) {
				t.Errorf("AddSilence = %v, want ErrInvalid", err)
			}
		})
	}
	if all, err := db.Silences(); err != nil || len(all) != 0 {
		t.Errorf("refused silences stored: %+v, %v", all, err)
	}
}

func testAcks(t *testing.T, open Opener, reopen Reopener) {
	db := open(t)
	for _, a := range []state.Ack{
		{Agent: "web-1", Schedule: "load", Author: "ann", Comment: "looking", Time: moment(0)},
		{Agent: "web-1", Comment: "rebooting", Time: moment(time.Second)},
		{Agent: "db-1", Schedule: "disk", Comment: "cleaning", Time: moment(time.Second)},
		{Agent: "web-1", Schedule: "load", Author: "bob", Comment: "mine now", Time: moment(time.Minute)},
	} {
		if err := db.Ack(a); err != nil {
			t.Fatal(err)
		}
	}
	db = reopen(t, db)
	acks, err := db.Acks()
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != 3 || acks[0].Agent != "db-1" || acks[1].Schedule != "" || acks[2].Author != "bob" || !acks[2].Time.Equal(moment(time.Minute)) {
		t.Fatalf("acks = %+v", acks)
	}
	if err := db.Unack("web-1", "load"); err != nil {
		t.Fatal(err)
	}
	if err := db.Unack("web-1", "load"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("second unack: %v, want ErrNotFound", err)
	}
	if acks, _ = db.Acks(); len(acks) != 2 {
		t.Errorf("after unack: %+v", acks)
	}
	for name, a := range map[string]state.Ack{
		"bad-agent":    {Agent: "-x", Comment: "c"},
		"nul-schedule": {Agent: "a", Schedule: "a\x00b", Comment: "c"},
		"no-comment":   {Agent: "a", Schedule: "s"},
		"long-comment": {Agent: "a", Comment: strings.Repeat("x", state.MaxComment+1)},
		"long-author":  {Agent: "a", Comment: "c", Author: strings.Repeat("x", state.MaxComment+1)},
	} {
		if err := db.Ack(a); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if acks, _ = db.Acks(); len(acks) != 2 {
		t.Errorf("refused acks stored: %+v", acks)
	}
}

// An acknowledgement and the notifications that tell it are stored
// together, or neither: a notification the outbox refuses leaves no
// acknowledgement behind.
func testAckWithNotifications(t *testing.T, open Opener, reopen Reopener) {
	db := open(t)
	out := state.Outgoing{Route: "ops", Doc: []byte(`{"kind":"acknowledgement"}`), Agent: "web-1", Schedule: "load", Created: moment(0)}
	a := state.Ack{Agent: "web-1", Schedule: "load", Author: "ann", Comment: "looking", Time: moment(0)}
	bad := out
	bad.Doc = []byte("{")
	if err := db.AckWithNotifications(a, out, bad); !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("with a notification not JSON: %v, want ErrInvalid", err)
	}
	if acks, _ := db.Acks(); len(acks) != 0 {
		t.Fatalf("acks stored with a notification refused: %+v", acks)
	}
	if err := db.AckWithNotifications(a, out); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db)
	acks, _ := db.Acks()
	ns, _, err := db.Notifications(state.NotificationQuery{})
	if err != nil || len(acks) != 1 || len(ns) != 1 || ns[0].Route != "ops" || ns[0].Schedule != "load" || ns[0].State != state.NotifyPending || ns[0].Event != "" {
		t.Fatalf("stored acks %+v, notifications %+v, %v", acks, ns, err)
	}
}

// Every write of a route, a silence or an acknowledgement moves
// NotifyGeneration; a refused one and a read do not.
func testNotifyGeneration(t *testing.T, open Opener) {
	db := open(t)
	last := db.NotifyGeneration()
	step := func(what string, err error, moves bool) {
		t.Helper()
		if err != nil && moves {
			t.Fatalf("%s: %v", what, err)
		}
		g := db.NotifyGeneration()
		if moved := g != last; moved != moves {
			t.Errorf("%s: generation %d -> %d, moved %v, want %v", what, last, g, moved, moves)
		}
		last = g
	}
	route := state.Route{Name: "ops", Receivers: []state.Receiver{{Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: "https://hooks.example/x"}}}}
	step("put route", db.PutRoute(route), true)
	step("bad route", db.PutRoute(state.Route{Name: "bad"}), false)
	_, err := db.Routes()
	step("read routes", err, false)
	s, err := db.AddSilence(state.Silence{Agents: "web-*", Created: moment(0), End: moment(time.Hour), Comment: "deploy"})
	step("add silence", err, true)
	step("end silence", db.EndSilence(s.ID, moment(time.Minute)), true)
	step("delete silence", db.DeleteSilence(s.ID), true)
	step("delete no silence", db.DeleteSilence(s.ID), false)
	step("ack", db.Ack(state.Ack{Agent: "web-1", Schedule: "disk", Comment: "on it", Time: moment(0)}), true)
	step("unack", db.Unack("web-1", "disk"), true)
	step("delete route", db.DeleteRoute("ops"), true)
}

// moment is the time d after t0.
func moment(d time.Duration) time.Time { return t0.Add(d) }

// testEventsBadCursor: a cursor no page gave is refused.
func testEventsBadCursor(t *testing.T, open Opener) {
	db := open(t)
	for _, c := range []string{"!!!", "AAAA", "not base64"} {
		if _, _, err := db.EventsPage(state.Query{After: c}); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("events after %q: %v, want ErrInvalid", c, err)
		}
		if _, _, err := db.Notifications(state.NotificationQuery{Query: state.Query{After: c}}); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("notifications after %q: %v, want ErrInvalid", c, err)
		}
	}
}
