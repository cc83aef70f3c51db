package pgstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/state"
)

// downHelens opens n stores on one new database, of helens h1 to hn.
func downHelens(t *testing.T, n int) []*Store {
	t.Helper()
	url := pgtest.DB(t)
	var out []*Store
	for i := range n {
		s, err := Open(context.Background(), url, Options{Helen: fmt.Sprintf("h%d", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

// setClaim writes agent's claim as a helen's Claim or Unclaim leaves it.
func setClaim(t *testing.T, s *Store, agent, helen string, held bool, at time.Time) {
	t.Helper()
	_, err := s.pool.Exec(context.Background(), `
		INSERT INTO claims (agent, helen, epoch, held, at) VALUES ($1, $2, 1, $3, $4)
		ON CONFLICT (agent) DO UPDATE SET helen = $2, epoch = claims.epoch + 1, held = $3, at = $4`,
		agent, helen, held, at)
	if err != nil {
		t.Fatal(err)
	}
}

// setBeat writes helen's heartbeat, as its Beat does.
func setBeat(t *testing.T, s *Store, helen string, at time.Time) {
	t.Helper()
	_, err := s.pool.Exec(context.Background(), `
		INSERT INTO helens (id, addr, started, beat) VALUES ($1, '', $2, $2)
		ON CONFLICT (id) DO UPDATE SET beat = $2`, helen, at)
	if err != nil {
		t.Fatal(err)
	}
}

// TestMarkDownOnce: helens that decide an agent down at once, and then up
// at once, each time one of them wins, and only its events are made.
func TestMarkDownOnce(t *testing.T) {
	stores := downHelens(t, 3)
	const unheld = time.Minute
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for round := range 40 {
		agent := fmt.Sprintf("web-%d", round%4)
		at := t0.Add(time.Duration(round) * time.Hour)
		// Released by a helen that is gone, as long ago as unheld.
		setClaim(t, stores[0], agent, "h0", false, at.Add(-unheld))
		var wg sync.WaitGroup
		wins := make([]bool, len(stores))
		made := make([]int, len(stores))
		start := make(chan struct{})
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				won, err := s.MarkDown(ctx, agent, at, unheld, func() []state.EventNotifications {
					made[i]++
					return []state.EventNotifications{{
						Event:  state.Event{Time: at, Agent: agent, From: "up", To: "down", Message: fmt.Sprintf("by h%d", i+1)},
						Notify: []state.Outgoing{{Route: "pager", Doc: []byte(`{"kind":"agent_down"}`)}},
					}}
				})
				if err != nil {
					t.Error(err)
				}
				wins[i] = won
			}()
		}
		close(start)
		wg.Wait()
		if n := count(wins); n != 1 || !slices.Equal(made, asInts(wins)) {
			t.Fatalf("round %d: %d of 3 helens won the down of %s (events made %v), want 1", round, n, agent, made)
		}
		var since []time.Time
		start = make(chan struct{})
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got, won, err := s.MarkUp(ctx, agent, at.Add(time.Second), func(s time.Time) []state.EventNotifications {
					since = append(since, s)
					return []state.EventNotifications{{Event: state.Event{Time: at.Add(time.Second), Agent: agent, From: "down", To: "up"}}}
				})
				if err != nil {
					t.Error(err)
				}
				wins[i] = won
				if won && !got.Equal(at) {
					t.Errorf("round %d: up, down since %v, want %v", round, got, at)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := count(wins); n != 1 || len(since) != 1 || !since[0].Equal(at) {
			t.Fatalf("round %d: %d of 3 helens won the up of %s, events made for %v; want 1, for %v", round, n, agent, since, at)
		}
	}
	// The winners' events alone, and their notifications, are stored.
	evs, err := stores[1].Events(time.Time{}, time.Time{}, 0)
	if err != nil || len(evs) != 2*40 {
		t.Fatalf("%d events stored (%v), want 80: a down and an up for each of 40 rounds", len(evs), err)
	}
	for i, ev := range evs {
		want := []string{"down", "up"}[i%2]
		if ev.To != want || !ev.Time.Equal(t0.Add(time.Duration(i/2)*time.Hour+time.Duration(i%2)*time.Second)) {
			t.Errorf("event %d = %+v, want %s of round %d", i, ev, want, i/2)
		}
	}
	ns, _, err := stores[2].Notifications(state.NotificationQuery{})
	if err != nil || len(ns) != 40 {
		t.Errorf("%d notifications stored (%v), want one for each down", len(ns), err)
	}
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func asInts(bs []bool) []int {
	out := make([]int, len(bs))
	for i, b := range bs {
		if b {
			out[i] = 1
		}
	}
	return out
}

// TestMarkDownHeld: an agent is marked down only when no other helen has
// held it for unheld: its claim released that long, or its holder dead
// (its heartbeat DeadHelen old) that long; its own holder's decision,
// and one for an agent never claimed, go through; a mark is made once.
func TestMarkDownHeld(t *testing.T) {
	st := downHelens(t, 2)
	me, other := st[0], st[1]
	const unheld = time.Minute
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	setBeat(t, me, "h1", at)
	setBeat(t, me, "h2", at)
	setBeat(t, me, "stale", at.Add(-unheld-state.DeadHelen+time.Second))
	setBeat(t, me, "dead", at.Add(-unheld-state.DeadHelen))

	setClaim(t, me, "held-live", "h2", true, at.Add(-time.Hour))
	setClaim(t, me, "held-stale", "stale", true, at.Add(-time.Hour))
	setClaim(t, me, "held-dead", "dead", true, at.Add(-time.Hour))
	setClaim(t, me, "held-dead-lately-claimed", "dead", true, at.Add(-unheld))
	setClaim(t, me, "held-never-beat", "ghost", true, at.Add(-unheld-state.DeadHelen))
	setClaim(t, me, "released-lately", "h2", false, at.Add(-unheld+time.Second))
	setClaim(t, me, "released", "h2", false, at.Add(-unheld))
	setClaim(t, me, "mine", "h1", true, at)

	for _, c := range []struct {
		agent string
		want  bool
	}{
		{"held-live", false},
		{"held-stale", false},
		{"held-dead", true},
		{"held-dead-lately-claimed", false},
		{"held-never-beat", true},
		{"released-lately", false},
		{"released", true},
		{"mine", true},
		{"never-claimed", true},
	} {
		won, err := me.MarkDown(ctx, c.agent, at, unheld, nil)
		if err != nil || won != c.want {
			t.Errorf("MarkDown(%s) = %v, %v; want %v", c.agent, won, err, c.want)
		}
	}
	// The holder's own decision is for the holder alone.
	if won, err := other.MarkDown(ctx, "mine", at, unheld, nil); err != nil || won {
		t.Errorf("MarkDown by another of an agent held by a live helen = %v, %v; want false", won, err)
	}
	// Once down, down: no second mark, its time kept.
	if won, err := other.MarkDown(ctx, "released", at.Add(time.Hour), unheld, nil); err != nil || won {
		t.Errorf("second MarkDown = %v, %v; want false", won, err)
	}
	if since, won, err := other.MarkUp(ctx, "released", at.Add(2*time.Hour), nil); err != nil || !won || !since.Equal(at) {
		t.Errorf("MarkUp = %v, %v, %v; want down since %v", since, won, err, at)
	}
	if _, won, err := other.MarkUp(ctx, "released", at.Add(2*time.Hour), nil); err != nil || won {
		t.Errorf("MarkUp of an agent up = %v, %v; want false", won, err)
	}
	if _, err := me.MarkDown(ctx, "", at, unheld, nil); err == nil {
		t.Error("MarkDown of no agent: no error")
	}
}

// TestUnheld: the agents no helen has held for unheld, not down and not
// forgotten (a claim with no agent), by name.
func TestUnheld(t *testing.T) {
	s := downHelens(t, 1)[0]
	const unheld = time.Minute
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	setBeat(t, s, "live", at)
	setBeat(t, s, "dead", at.Add(-time.Hour))
	setClaim(t, s, "b-released", "live", false, at.Add(-unheld))
	setClaim(t, s, "a-dead", "dead", true, at.Add(-time.Hour))
	setClaim(t, s, "c-held", "live", true, at.Add(-time.Hour))
	setClaim(t, s, "d-released-lately", "live", false, at.Add(-time.Second))
	setClaim(t, s, "e-down", "dead", true, at.Add(-time.Hour))
	setClaim(t, s, "f-forgotten", "dead", true, at.Add(-time.Hour))
	setClaim(t, s, "g-never-seen", "dead", true, at.Add(-time.Hour))
	for _, name := range []string{"a-dead", "b-released", "c-held", "d-released-lately", "e-down", "f-forgotten"} {
		if err := s.AgentSeen(state.Agent{Name: name, LastSeen: at.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Forget("f-forgotten", at.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkDown(ctx, "e-down", at, unheld, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Unheld(ctx, at, unheld, 10)
	if want := []string{"a-dead", "b-released"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Unheld = %v, %v; want %v", got, err, want)
	}
	if got, err := s.Unheld(ctx, at, unheld, 1); err != nil || !slices.Equal(got, []string{"a-dead"}) {
		t.Errorf("Unheld, at most 1 = %v, %v; want [a-dead]", got, err)
	}
}
