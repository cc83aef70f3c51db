package state

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestExportMonitorDefaults: a schedule and a status written before
// their fields of attempts were are exported as the store reads them,
// with their defaults, so that another store imports what this one gives.
func TestExportMonitorDefaults(t *testing.T) {
	db := openTest(t, Options{})
	err := db.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSchedules).Put([]byte("old"),
			[]byte(`{"name":"old","check":"load","every":60000000000,"timeout":10000000000,"agents":"*"}`)); err != nil {
			return err
		}
		return tx.Bucket(bucketStatus).Put(latestKey("web-1", "old"),
			[]byte(`{"agent":"web-1","schedule":"old","check":"load","status":"critical","message":"m"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	x, err := db.ExportMonitor()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := db.Schedules()
	if len(x.Schedules) != 1 || x.Schedules[0].Attempts != want[0].Attempts || x.Schedules[0].Attempts != 1 ||
		x.Schedules[0].RetryEvery != time.Minute {
		t.Errorf("schedules exported %+v, read %+v", x.Schedules, want)
	}
	sts, _ := db.Statuses("")
	if len(x.Statuses) != 1 || x.Statuses[0].StateType != sts[0].StateType || x.Statuses[0].StateType == "" ||
		x.Statuses[0].MaxAttempts != sts[0].MaxAttempts {
		t.Errorf("statuses exported %+v, read %+v", x.Statuses, sts)
	}
}
