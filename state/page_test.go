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
