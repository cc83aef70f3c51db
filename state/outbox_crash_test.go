package state

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/testfs"
)

// An event and its notifications are one transaction: when it cannot be
// committed (here the disk is full: the notifications do not fit, the
// event alone would), neither is stored, and a later open finds neither.
func TestEventAndNotificationsTogether(t *testing.T) {
	dir := testfs.Tmpfs(t, 1<<20)
	path := filepath.Join(dir, "helen.db")
	db, err := Open(path, Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	en := EventNotifications{Event: problem("web-1", "load", 0)}
	doc := json.RawMessage(`"` + strings.Repeat("x", MaxNotificationDoc-2) + `"`)
	for r := range MaxReceivers {
		en.Notify = append(en.Notify, Outgoing{Route: "oncall", Receiver: r, Doc: doc})
	}
	err = db.AddEventsWithNotifications(en)
	if !errors.Is(err, syscall.ENOSPC) {
		db.Close()
		t.Fatalf("add on a full disk = %v, want ENOSPC", err)
	}
	db.Close() // may fail on a full disk
	db, err = Open(path, Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if evs, err := db.Events(time.Time{}, time.Time{}, 0); err != nil || len(evs) != 0 {
		t.Errorf("events after a failed transaction: %+v, %v", evs, err)
	}
	if ns := listAll(t, db, NotificationQuery{}); len(ns) != 0 {
		t.Errorf("%d notifications after a failed transaction", len(ns))
	}
	wantStats(t, db, 0, 0, 0, 0)
	// The small event alone fits: the disk was full of the
	// notifications, not of the event.
	if err := db.AddEventsWithNotifications(EventNotifications{Event: en.Event, Notify: en.Notify[:1]}); err != nil {
		t.Errorf("the event with one notification: %v", err)
	}
}

// Workers that take due notifications concurrently never hold two of one
// group at once, and deliver each group's in the order they were made,
// though attempts fail at random and are retried.
func TestNextDueConcurrent(t *testing.T) {
	db := openTest(t, Options{})
	const agents, each = 8, 25
	for i := range each {
		var ens []EventNotifications
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
	group := func(n Notification) string { return string(outboxGroup(n.Agent, n.Schedule, n.Route, n.Receiver)) }
	now := at(time.Hour)
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
					outcome := Delivered
					if (w+i+j)%3 == 0 {
						outcome = Retry
					}
					// Out of the map before the record: once recorded,
					// another worker may take the group at once.
					mu.Lock()
					delete(inFlight, group(n))
					if outcome == Delivered {
						delivered[group(n)] = append(delivered[group(n)], n.Created)
						count++
					}
					mu.Unlock()
					if err := db.RecordAttempt(n.ID, Attempt{Time: now}, outcome, now); err != nil {
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
