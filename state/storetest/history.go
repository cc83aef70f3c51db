package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

func init() {
	register("HistoryPages", testHistoryPages)
	register("HistoryPageRange", testHistoryPageRange)
	register("HistoryBadCursor", testHistoryBadCursor)
	register("HistoryBySchedule", testHistoryBySchedule)
	register("PruneByAge", testPruneByAge)
}

// scheduledResult is a result of check run by schedule.
func scheduledResult(agent, check, schedule, msg string, d time.Duration) state.Result {
	r := checkResult(agent, check, msg, d)
	r.Schedule = schedule
	return r
}

// pageAll reads the history of f in pages of size, following cursors.
func pageAll(t *testing.T, db state.Store, agent string, f state.Filter, size, most int) []state.Result {
	t.Helper()
	var got []state.Result
	q := state.Query{Limit: size}
	for pages := 0; ; pages++ {
		if pages > most {
			t.Fatal("pages never end")
		}
		page, cursors, err := db.HistoryPage(agent, f, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != len(cursors) || len(page) > size {
			t.Fatalf("%d results and %d cursors, want as many and at most %d", len(page), len(cursors), size)
		}
		got = append(got, page...)
		if len(page) < size {
			return got
		}
		q.After = cursors[len(cursors)-1]
	}
}

// testHistoryPages: pages of every size, followed by their cursors, give
// every result once and in History's order, results of several checks at
// the same instant included.
func testHistoryPages(t *testing.T, open Opener) {
	db := open(t)
	var rs []state.Result
	for i := range 30 {
		d := time.Duration(i/2) * time.Second
		for _, check := range []string{"a", "b", "c"} {
			rs = append(rs, checkResult("web", check, fmt.Sprintf("%s%d", check, i), d))
		}
	}
	addResults(t, db, rs...)
	for _, check := range []string{"", "b"} {
		want, err := db.History("web", check, 0, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if n := map[string]int{"": 90, "b": 30}[check]; len(want) != n {
			t.Fatalf("History of %q: %d results, want %d", check, len(want), n)
		}
		for _, size := range []int{1, 2, 7, 29, 30, 200} {
			t.Run(fmt.Sprintf("check=%q/size=%d", check, size), func(t *testing.T) {
				got := pageAll(t, db, "web", state.Filter{Check: check}, size, len(want))
				if !slices.Equal(messagesOf(got), messagesOf(want)) {
					t.Errorf("pages give %v, want %v", messagesOf(got), messagesOf(want))
				}
			})
		}
	}
}

func testHistoryPageRange(t *testing.T, open Opener) {
	db := open(t)
	for i := range 10 {
		addResults(t, db, checkResult("web", "load", fmt.Sprint(i), time.Duration(i)*time.Second))
	}
	q := state.Query{Since: t0.Add(2 * time.Second), Until: t0.Add(8 * time.Second), Limit: 4}
	p1, c1, err := db.HistoryPage("web", state.Filter{Check: "load"}, q)
	if err != nil {
		t.Fatal(err)
	}
	q.After = c1[len(c1)-1]
	p2, _, err := db.HistoryPage("web", state.Filter{Check: "load"}, q)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := append(messagesOf(p1), messagesOf(p2)...), []string{"7", "6", "5", "4", "3", "2"}; !slices.Equal(got, want) {
		t.Errorf("pages give %v, want %v", got, want)
	}
}

func testHistoryBadCursor(t *testing.T, open Opener) {
	db := open(t)
	for _, c := range []string{"!!!", "AAAA", "not base64"} {
		if _, _, err := db.HistoryPage("web", state.Filter{}, state.Query{After: c}); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("history after %q: %v, want ErrInvalid", c, err)
		}
	}
}

// testHistoryBySchedule: two schedules of one check keep their results
// apart, each selected by its schedule, both (and the runs no schedule
// made) by the check, and by Name whichever of the two it names; each
// series has its own latest.
func testHistoryBySchedule(t *testing.T, open Opener) {
	db := open(t)
	var rs []state.Result
	for i := range 3 {
		d := time.Duration(i) * time.Minute
		rs = append(rs,
			scheduledResult("web-1", "disk", "disk-root", fmt.Sprint("root", i), d+2*time.Second),
			scheduledResult("web-1", "disk", "disk-var", fmt.Sprint("var", i), d+time.Second),
			scheduledResult("web-1", "load", "load", fmt.Sprint("load", i), d))
	}
	rs = append(rs, checkResult("web-1", "disk", "asked", 10*time.Minute))
	addResults(t, db, rs...)
	for _, tt := range []struct {
		f    state.Filter
		want []string
	}{
		{state.Filter{Schedule: "disk-var"}, []string{"var2", "var1", "var0"}},
		{state.Filter{Schedule: "disk-root", Check: "disk"}, []string{"root2", "root1", "root0"}},
		{state.Filter{Schedule: "disk-root", Check: "load"}, nil},
		{state.Filter{Check: "disk"}, []string{"asked", "root2", "var2", "root1", "var1", "root0", "var0"}},
		{state.Filter{Name: "disk-var"}, []string{"var2", "var1", "var0"}},
		{state.Filter{Name: "disk"}, []string{"asked", "root2", "var2", "root1", "var1", "root0", "var0"}},
		{state.Filter{Name: "load"}, []string{"load2", "load1", "load0"}},
		{state.Filter{Name: "nothing"}, nil},
		{state.Filter{}, []string{"asked", "root2", "var2", "load2", "root1", "var1", "load1", "root0", "var0", "load0"}},
	} {
		got, _, err := db.HistoryPage("web-1", tt.f, state.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(messagesOf(got), tt.want) {
			t.Errorf("%v: %v, want %v", tt.f, messagesOf(got), tt.want)
		}
		for _, r := range got {
			want := map[string]string{"root": "disk-root", "var": "disk-var", "load": "load", "asked": ""}[strings.TrimRight(r.Message, "0123456789")]
			if r.Schedule != want {
				t.Errorf("%v: result %q has schedule %q, want %q", tt.f, r.Message, r.Schedule, want)
			}
		}
	}
	states, err := db.CheckStates("web-1")
	if err != nil {
		t.Fatal(err)
	}
	var series []string
	for _, st := range states {
		series = append(series, st.Result.Check+"/"+st.Result.Schedule+"="+st.Result.Message)
	}
	if want := []string{"disk/=asked", "disk/disk-root=root2", "disk/disk-var=var2", "load/load=load2"}; !slices.Equal(series, want) {
		t.Errorf("check states %v, want %v", series, want)
	}
	// Pages of a check's series, those at the same instant included.
	addResults(t, db, scheduledResult("web-1", "disk", "disk-root", "same0", time.Hour),
		scheduledResult("web-1", "disk", "disk-var", "same1", time.Hour), scheduledResult("web-1", "disk", "disk-root", "same2", time.Hour))
	want, _, err := db.HistoryPage("web-1", state.Filter{Check: "disk"}, state.Query{})
	if err != nil {
		t.Fatal(err)
	}
	for size := 1; size <= len(want)+1; size++ {
		if got := pageAll(t, db, "web-1", state.Filter{Check: "disk"}, size, len(want)+1); !slices.Equal(messagesOf(got), messagesOf(want)) {
			t.Errorf("pages of %d: %v, want %v", size, messagesOf(got), messagesOf(want))
		}
	}
}

// testPruneByAge: Prune deletes the results older than the history's
// age (30 days by default), and the series and agents left with none,
// latest records too.
func testPruneByAge(t *testing.T, open Opener) {
	db := open(t)
	day := 24 * time.Hour
	addResults(t, db,
		checkResult("a", "cpu", "cpu-33d", -33*day),
		checkResult("a", "cpu", "cpu-32d", -32*day),
		checkResult("a", "cpu", "cpu-1h", -time.Hour),
		checkResult("a", "gone", "gone-32d", -32*day),
		checkResult("old", "cpu", "old-35d", -35*day),
	)
	n, err := db.Prune(t0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("Prune deleted %d, want 4", n)
	}
	got, err := db.History("a", "", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if m := messagesOf(got); len(m) != 1 || m[0] != "cpu-1h" {
		t.Errorf("history after prune = %v", m)
	}
	latest, err := db.Latest("")
	if err != nil {
		t.Fatal(err)
	}
	if m := messagesOf(latest); len(m) != 1 || m[0] != "cpu-1h" {
		t.Errorf("latest after prune = %v", m)
	}
	states, err := db.CheckStates("a")
	if err != nil || len(states) != 1 || states[0].Count != 1 {
		t.Errorf("states after prune = %+v, %v", states, err)
	}
	if n, err := db.Prune(t0); n != 0 || err != nil {
		t.Errorf("second Prune = %d, %v; want nothing to do", n, err)
	}
}
