package state

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestHistoryPages: pages of every size, followed by their cursors, give
// every result once and in History's order, results of several checks at
// the same instant included.
func TestHistoryPages(t *testing.T) {
	db := openTest(t, Options{})
	var rs []Result
	for i := range 30 {
		// Three checks, each with results at the same instants, and two
		// results of one check at the same instant.
		ts := at(time.Duration(i/2) * time.Second)
		for _, check := range []string{"a", "b", "c"} {
			rs = append(rs, newResult("web", check, fmt.Sprintf("%s%d", check, i), ts))
		}
	}
	addAll(t, db, rs...)
	for _, check := range []string{"", "b"} {
		want, err := db.History("web", check, 0, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{1, 2, 7, 29, 30, 200} {
			t.Run(fmt.Sprintf("check=%q/size=%d", check, size), func(t *testing.T) {
				var got []Result
				q := Query{Limit: size}
				for pages := 0; ; pages++ {
					if pages > len(want) {
						t.Fatal("pages never end")
					}
					page, cursors, err := db.HistoryPage("web", Filter{Check: check}, q)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) != len(cursors) || len(page) > size {
						t.Fatalf("%d results and %d cursors, want as many and at most %d", len(page), len(cursors), size)
					}
					got = append(got, page...)
					if len(page) < size {
						break
					}
					q.After = cursors[len(cursors)-1]
				}
				if !slices.Equal(msgs(got), msgs(want)) {
					t.Errorf("pages give %v, want %v", msgs(got), msgs(want))
				}
			})
		}
	}
}

func TestHistoryPageRange(t *testing.T) {
	db := openTest(t, Options{})
	for i := range 10 {
		addAll(t, db, newResult("web", "load", fmt.Sprint(i), at(time.Duration(i)*time.Second)))
	}
	// since 2s, until 8s: 7 down to 2, in pages of 4.
	q := Query{Since: at(2 * time.Second), Until: at(8 * time.Second), Limit: 4}
	p1, c1, err := db.HistoryPage("web", Filter{Check: "load"}, q)
	if err != nil {
		t.Fatal(err)
	}
	q.After = c1[len(c1)-1]
	p2, _, err := db.HistoryPage("web", Filter{Check: "load"}, q)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := append(msgs(p1), msgs(p2)...), []string{"7", "6", "5", "4", "3", "2"}; !slices.Equal(got, want) {
		t.Errorf("pages give %v, want %v", got, want)
	}
}

func TestAgentsPage(t *testing.T) {
	db := openTest(t, Options{})
	for _, name := range []string{"db-1", "web-1", "app-1", "web-2", "cache"} {
		if err := db.AgentSeen(Agent{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	after := ""
	for {
		page, err := db.AgentsPage(after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			got = append(got, a.Name)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].Name
	}
	if want := []string{"app-1", "cache", "db-1", "web-1", "web-2"}; !slices.Equal(got, want) {
		t.Errorf("pages give %v, want %v", got, want)
	}
	// A name that is not an agent's is a place in the order all the same.
	page, err := db.AgentsPage("d", 0)
	if err != nil || len(page) != 3 || page[0].Name != "db-1" {
		t.Errorf("after d: %v, %v; want db-1, web-1, web-2", page, err)
	}
}

func TestBadCursor(t *testing.T) {
	db := openTest(t, Options{})
	for _, c := range []string{"!!!", "AAAA", "not base64"} {
		if _, _, err := db.HistoryPage("web", Filter{}, Query{After: c}); !errors.Is(err, ErrInvalid) {
			t.Errorf("history after %q: %v, want ErrInvalid", c, err)
		}
		if _, _, err := db.EventsPage(Query{After: c}); !errors.Is(err, ErrInvalid) {
			t.Errorf("events after %q: %v, want ErrInvalid", c, err)
		}
	}
}
