package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func silence(agents string, start, end time.Duration) Silence {
	return Silence{Agents: agents, Start: at(start), End: at(end), Comment: "maintenance", Author: "ops", Created: at(0)}
}

func TestSilences(t *testing.T) {
	db := openTest(t, Options{})
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
	if len(a.ID) != silenceIDLen || a.ID == b.ID || strings.Trim(a.ID, idAlphabet) != "" {
		t.Errorf("ids %q and %q: want two distinct of %d letters and digits", a.ID, b.ID, silenceIDLen)
	}
	if !b.Start.Equal(at(0)) {
		t.Errorf("start of a silence without one = %v, want its creation", b.Start)
	}
	db = reopen(t, db, Options{})
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
		if got := all[1].Active(at(tc.at)); got != tc.want {
			t.Errorf("Active at %v = %v, want %v", tc.at, got, tc.want)
		}
	}
	// Expire on resolve: ended early, never later than it was.
	if err := db.EndSilence(b.ID, at(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSilence(b.ID, at(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSilence("nosuchid", at(0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("EndSilence of an unknown id = %v", err)
	}
	all, _ = db.Silences()
	if !all[0].End.Equal(at(30 * time.Minute)) {
		t.Errorf("ended silence ends at %v, want 30m", all[0].End)
	}
	// Kept SilenceKeep after its end, then pruned.
	if n, err := db.PruneSilences(at(30*time.Minute + SilenceKeep)); err != nil || n != 0 {
		t.Errorf("prune at the keep: %d, %v; want 0", n, err)
	}
	if _, err := db.Prune(at(30*time.Minute + SilenceKeep + time.Second)); err != nil {
		t.Fatal(err)
	}
	if all, _ = db.Silences(); len(all) != 1 || all[0].ID != a.ID {
		t.Errorf("after prune: %+v, want %s alone", all, a.ID)
	}
	if err := db.DeleteSilence(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSilence(a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

// At MaxSilences, a new silence takes the place of the one that ended
// longest ago; with every one in force it is refused.
func TestSilencesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the bound")
	}
	db := openTest(t, Options{})
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSilences)
		for i := range MaxSilences {
			s := silence("*", 0, time.Hour+time.Duration(i)*time.Second)
			s.ID = fmt.Sprintf("s%07d", i)
			v, _ := json.Marshal(s)
			if err := b.Put([]byte(s.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := silence("*", 2*time.Hour, 3*time.Hour)
	s.Created = at(time.Hour + 2*time.Second) // s0000000 and s0000001 have ended
	if _, err := db.AddSilence(s); err != nil {
		t.Fatalf("AddSilence at the bound with some ended: %v", err)
	}
	all, _ := db.Silences()
	if len(all) != MaxSilences || all[0].ID != "s0000001" {
		t.Errorf("%d silences, first %s; want %d, the oldest ended one dropped", len(all), all[0].ID, MaxSilences)
	}
	s.Created = at(0)
	if _, err := db.AddSilence(s); !errors.Is(err, ErrFull) {
		t.Errorf("AddSilence at the bound, all in force: %v, want ErrFull", err)
	}
}
