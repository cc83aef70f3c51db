package state

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
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
