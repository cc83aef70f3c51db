package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func silence(agents string, start, end time.Duration) Silence {
	return Silence{Agents: agents, Start: at(start), End: at(end), Comment: "maintenance", Author: "ops", Created: at(0)}
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
