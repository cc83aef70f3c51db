package state

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// scheduled is a result of check run by schedule.
func scheduled(agent, check, schedule, msg string, t time.Time) Result {
	r := newResult(agent, check, msg, t)
	r.Schedule = schedule
	return r
}

// TestHistoryBoundPerSchedule: HistoryMaxPerCheck bounds each schedule of
// a check on its own, so a frequent schedule does not push a rare one's
// results out.
func TestHistoryBoundPerSchedule(t *testing.T) {
	db := openTest(t, Options{HistoryMaxPerCheck: 3})
	addAll(t, db, scheduled("web-1", "disk", "disk-var", "rare", at(0)))
	for i := range 10 {
		addAll(t, db, scheduled("web-1", "disk", "disk-root", fmt.Sprint(i), at(time.Duration(i+1)*time.Second)))
	}
	got, err := db.History("web-1", "disk", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"9", "8", "7", "rare"}; !slices.Equal(msgs(got), want) {
		t.Errorf("history %v, want %v", msgs(got), want)
	}
}

// openV1 copies testdata/schema-v1.db.gz, a file that the version 1 code
// (commit a9ff201) wrote, into a temporary directory and returns its path.
// It holds agent web-1 (seen at 2025-06-01 12:00 UTC), results of its
// checks disk (three: 40, 70 and 85% used) and load (two), the schedules
// disk-root and disk-var with a status each, and one event.
func openV1(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "schema-v1.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "helen.db")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// fileSchema reads the schema version of a closed file.
func fileSchema(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var v uint64
	err = b.View(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOpenSchemaV1: a file of version 1, made by the code of that version,
// opens as version 2: its results show under their check with no
// schedule, its statuses, schedules and events are as they were, and new
// results of a schedule go beside them.
func TestOpenSchemaV1(t *testing.T) {
	path := openV1(t)
	if v := fileSchema(t, path); v != 1 {
		t.Fatalf("testdata file has schema version %d, want 1", v)
	}
	db, err := Open(path, Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	old, err := db.History("web-1", "disk", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"disk /var 85% used", "disk /var 70% used", "disk / 40% used"}; !slices.Equal(msgs(old), want) {
		t.Errorf("old results of disk: %v, want %v", msgs(old), want)
	}
	for _, r := range old {
		if r.Schedule != "" || r.Agent != "web-1" || r.Check != "disk" || len(r.Metrics) != 1 || r.Metrics[0].Unit != "%" {
			t.Errorf("old result %+v", r)
		}
	}
	if rs, _, _ := db.HistoryPage("web-1", Filter{Name: "load"}, Query{}); len(rs) != 2 {
		t.Errorf("old results of load by name: %d, want 2", len(rs))
	}
	if rs, _, _ := db.HistoryPage("web-1", Filter{Schedule: "disk-var"}, Query{}); len(rs) != 0 {
		t.Errorf("old results, which name no schedule, selected by one: %v", msgs(rs))
	}
	sts, err := db.Statuses("web-1")
	if err != nil || len(sts) != 2 || sts[1].Schedule != "disk-var" || sts[1].Status != "warning" {
		t.Errorf("old statuses %+v, %v", sts, err)
	}
	if evs, err := db.Events(time.Time{}, time.Time{}, 0); err != nil || len(evs) != 1 || evs[0].To != "warning" {
		t.Errorf("old events %+v, %v", evs, err)
	}
	if ss, err := db.Schedules(); err != nil || len(ss) != 2 {
		t.Errorf("old schedules %+v, %v", ss, err)
	}

	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	addAll(t, db, scheduled("web-1", "disk", "disk-var", "disk /var 90% used", t0.Add(4*time.Minute)))
	if rs, _, _ := db.HistoryPage("web-1", Filter{Schedule: "disk-var"}, Query{}); !slices.Equal(msgs(rs), []string{"disk /var 90% used"}) {
		t.Errorf("new results of disk-var: %v", msgs(rs))
	}
	if rs, _ := db.History("web-1", "disk", 0, time.Time{}, time.Time{}); len(rs) != 4 || rs[0].Schedule != "disk-var" {
		t.Errorf("results of disk old and new: %+v", rs)
	}
	states, err := db.CheckStates("web-1")
	if err != nil || len(states) != 3 {
		t.Errorf("check states %+v, %v: want disk, disk by disk-var, load", states, err)
	}
	if n, err := db.Prune(t0.Add(31 * 24 * time.Hour)); err != nil || n != 6 {
		t.Errorf("prune of everything: %d, %v; want 6", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if v := fileSchema(t, path); v != schemaVersion {
		t.Errorf("schema version after Open: %d, want %d", v, schemaVersion)
	}
	checkFile(t, path)
	db, err = Open(path, Options{PruneInterval: -1})
	if err != nil {
		t.Fatalf("open again: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
