package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/internal/leakcheck"
	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/state"
)

// twoHelens opens two stores on one database, as helens "a" and "b".
func twoHelens(t *testing.T) (a, b *Store, url string) {
	t.Helper()
	url = pgtest.DB(t)
	open := func(id string) *Store {
		s, err := Open(context.Background(), url, Options{Helen: id})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open("a"), open("b"), url
}

var at0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestClaimsAtOnce(t *testing.T) {
	a, b, _ := twoHelens(t)
	ctx := context.Background()
	const rounds = 20
	for i := range rounds {
		agent := fmt.Sprintf("web-%d", i)
		var wg sync.WaitGroup
		var ca, cb state.Claim
		var ea, eb error
		wg.Add(2)
		go func() { defer wg.Done(); ca, ea = a.Claim(ctx, agent, "a", at0) }()
		go func() { defer wg.Done(); cb, eb = b.Claim(ctx, agent, "b", at0) }()
		wg.Wait()
		if ea != nil || eb != nil {
			t.Fatal(ea, eb)
		}
		if ca.Epoch == cb.Epoch || ca.Epoch+cb.Epoch != 3 {
			t.Fatalf("%s: epochs %d and %d, want 1 and 2", agent, ca.Epoch, cb.Epoch)
		}
		last := ca
		if cb.Epoch > ca.Epoch {
			last = cb
		}
		for _, s := range []*Store{a, b} {
			o, err := s.Owner(ctx, agent)
			if err != nil {
				t.Fatal(err)
			}
			if o != last {
				t.Fatalf("%s: owner %+v, want the last claim %+v", agent, o, last)
			}
		}
		if e, _ := a.heldEpoch(agent); e != ca.Epoch {
			t.Fatalf("a holds %s under %d, want its claim's %d", agent, e, ca.Epoch)
		}
	}
}

func TestClaimEpochGrows(t *testing.T) {
	a, b, _ := twoHelens(t)
	ctx := context.Background()
	if _, err := a.Owner(ctx, "web"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("owner of an agent never claimed: %v, want ErrNotFound", err)
	}
	for i, s := range []*Store{a, b, a} {
		c, err := s.Claim(ctx, "web", s.opt.Helen, at0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		want := state.Claim{Agent: "web", Helen: s.opt.Helen, Epoch: int64(i + 1), At: at0.Add(time.Duration(i) * time.Second), Held: true}
		if c != want {
			t.Fatalf("claim %d: %+v, want %+v", i, c, want)
		}
	}
	if e, ok := b.heldEpoch("web"); !ok || e != 2 {
		t.Fatalf("b holds web under %d, %v; want 2", e, ok)
	}
	// A claim in another helen's name through a store is not its own.
	if _, err := a.Claim(ctx, "db", "b", at0); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.heldEpoch("db"); ok {
		t.Fatal("a holds a claim made in b's name")
	}
}

func TestClaimRefusesBadInput(t *testing.T) {
	a, _, _ := twoHelens(t)
	ctx := context.Background()
	for _, c := range []struct{ name, agent, helen string }{
		{"no-agent", "", "a"},
		{"bad-agent", "-web", "a"},
		{"no-helen", "web", ""},
		{"long-helen", "web", string(bytes.Repeat([]byte("h"), MaxHelenID+1))},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := a.Claim(ctx, c.agent, c.helen, at0); !errors.Is(err, state.ErrInvalid) {
				t.Fatalf("claim: %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := a.Owner(ctx, "web"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("a refused claim left a row: %v", err)
	}
}

func TestUnclaimStaleIsNoop(t *testing.T) {
	a, b, _ := twoHelens(t)
	ctx := context.Background()
	ca, err := a.Claim(ctx, "web", "a", at0)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.Claim(ctx, "web", "b", at0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Unclaim(ctx, ca, at0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if o, err := a.Owner(ctx, "web"); err != nil || o != cb {
		t.Fatalf("after a stale unclaim the owner is %+v, %v; want %+v", o, err, cb)
	}
	if err := b.Unclaim(ctx, cb, at0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	want := cb
	want.Held, want.At = false, at0.Add(3*time.Second)
	if o, err := a.Owner(ctx, "web"); err != nil || o != want {
		t.Fatalf("after unclaim the owner is %+v, %v; want %+v", o, err, want)
	}
	// Released twice: the second finds nothing held and changes nothing.
	if err := b.Unclaim(ctx, cb, at0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if o, _ := a.Owner(ctx, "web"); o != want {
		t.Fatalf("a second unclaim changed the claim to %+v", o)
	}
	// The next claim goes on from the released one's epoch.
	if c, err := a.Claim(ctx, "web", "a", at0.Add(5*time.Second)); err != nil || c.Epoch != 3 {
		t.Fatalf("claim after release: %+v, %v; want epoch 3", c, err)
	}
}

// next returns the next change of ch, failing t after a while.
func next(t *testing.T, ch <-chan state.Change) state.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no change within 30 s")
	}
	return state.Change{}
}

// startWatch starts a Watch of s ended with the test.
func startWatch(t *testing.T, s *Store) <-chan state.Change {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := s.Watch(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		for range ch {
		}
	})
	return ch
}

func TestWatchSeesClaims(t *testing.T) {
	leakcheck.Test(t, 5*time.Second)
	a, b, _ := twoHelens(t)
	ctx := context.Background()
	ch := startWatch(t, a)
	cb, err := b.Claim(ctx, "web", "b", at0)
	if err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Kind != "claim" || c.Claim != cb {
		t.Fatalf("change %+v, want b's claim %+v", c, cb)
	}
	if err := b.Unclaim(ctx, cb, at0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	want := cb
	want.Held, want.At = false, at0.Add(time.Second)
	if c := next(t, ch); c.Kind != "claim" || c.Claim != want {
		t.Fatalf("change %+v, want b's release %+v", c, want)
	}
	// A kind told by another area's write is delivered as it is.
	if _, err := b.pool.Exec(ctx, "SELECT pg_notify($1, 'schedules')", ChangesChannel); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Kind != "schedules" {
		t.Fatalf("change %+v, want schedules", c)
	}
}

func TestWatchResyncAfterReconnect(t *testing.T) {
	leakcheck.Test(t, 5*time.Second)
	a, b, _ := twoHelens(t)
	ctx := context.Background()
	ch := startWatch(t, a)
	// The server ends the Watch's connection.
	var n int
	err := b.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'equus-watch' AND datname = current_database()`).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminated %d watch connections, %v; want 1", n, err)
	}
	if c := next(t, ch); c.Kind != "resync" {
		t.Fatalf("change %+v after a reconnect, want resync", c)
	}
	cb, err := b.Claim(ctx, "web", "b", at0)
	if err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Claim != cb {
		t.Fatalf("change %+v after the reconnect, want %+v", c, cb)
	}
}

func TestWatchResyncOnOverflow(t *testing.T) {
	leakcheck.Test(t, 5*time.Second)
	a, b, _ := twoHelens(t)
	ctx := context.Background()
	var w *watch
	watchStarted = func(x *watch) { w = x }
	defer func() { watchStarted = nil }()
	ch := startWatch(t, a)
	// More distinct notifications than a watch keeps, while nobody takes
	// them (NOTIFY folds equal payloads of one transaction into one).
	const told = 3 * WatchQueue
	_, err := b.pool.Exec(ctx, `SELECT pg_notify($1, json_build_object('kind', 'claim', 'agent', 'a' || i,
		'helen', 'b', 'epoch', 1, 'held', true, 'at', now())::text) FROM generate_series(1, $2) i`, ChangesChannel, told)
	if err != nil {
		t.Fatal(err)
	}
	// The last is the witness that all were received: once it comes,
	// what was lost was said with a resync before it.
	cb, err := b.Claim(ctx, "web", "b", at0)
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the watch receives all and drops what it cannot keep", 30*time.Second, 10*time.Millisecond, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.resync && len(w.queue) > 0 && w.queue[len(w.queue)-1].Claim == cb
	})
	got, resync := 0, false
	for {
		c := next(t, ch)
		if c.Kind == "resync" {
			resync = true
			continue
		}
		got++
		if c.Claim == cb {
			break
		}
	}
	if !resync || got > WatchQueue+2 {
		t.Fatalf("of %d changes told to a watcher that took none, %d were delivered, resync %v; want at most %d and a resync",
			told+1, got, resync, WatchQueue+2)
	}
}

func TestWatchFailsWithoutServer(t *testing.T) {
	leakcheck.Test(t, 5*time.Second)
	a, _, dbURL := twoHelens(t)
	a.opt.ConnectTimeout = time.Second
	// A watch whose every connection is refused gives up with the
	// server's error. (The pool's connections, made before, stay.)
	ctx := context.Background()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	admin, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+db+" WITH ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	ch, err := a.Watch(ctx)
	if err == nil || ch != nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("watch of a database that takes no connection: %v, want the connection's error", err)
	}
	t.Log(err)
}

func TestBeatHelens(t *testing.T) {
	a, b, _ := twoHelens(t)
	ctx := context.Background()
	ch := startWatch(t, a)
	ha := state.Helen{ID: "a", Addr: "10.0.0.1:8445", Agents: "helen-a.example.com:7480", Version: "1.0", Started: at0, Beat: at0}
	hb := state.Helen{ID: "b", Addr: "10.0.0.2:8445", Started: at0, Beat: at0.Add(time.Second)}
	for _, h := range []state.Helen{ha, hb} {
		if err := b.Beat(ctx, h); err != nil {
			t.Fatal(err)
		}
		if c := next(t, ch); c.Kind != "helens" {
			t.Fatalf("change %+v for a new helen, want helens", c)
		}
	}
	ha.Beat = at0.Add(2 * time.Second)
	if err := a.Beat(ctx, ha); err != nil {
		t.Fatal(err)
	}
	hs, err := b.Helens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[0] != ha || hs[1] != hb {
		t.Fatalf("helens %+v, want %+v and %+v", hs, ha, hb)
	}
	// A heartbeat is not told; a restart is.
	cb, err := b.Claim(ctx, "web", "b", at0)
	if err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Claim != cb {
		t.Fatalf("change %+v, want the claim (a heartbeat is not a change)", c)
	}
	ha.Started = at0.Add(time.Minute)
	if err := a.Beat(ctx, ha); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Kind != "helens" {
		t.Fatalf("change %+v for a restarted helen, want helens", c)
	}
	// So is a new agents' address, and the others read it.
	ha.Agents = "helen-a.example.com:7490"
	if err := a.Beat(ctx, ha); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Kind != "helens" {
		t.Fatalf("change %+v for a helen's new agents' address, want helens", c)
	}
	if hs, err := b.Helens(ctx); err != nil || len(hs) != 2 || hs[0] != ha {
		t.Fatalf("helens %+v, %v, want %+v first", hs, err, ha)
	}
	if err := a.Beat(ctx, state.Helen{Started: at0, Beat: at0}); !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("beat without an id: %v, want ErrInvalid", err)
	}
}

func TestPutSecretFirstWins(t *testing.T) {
	a, b, _ := twoHelens(t)
	ctx := context.Background()
	if _, err := a.Secret(ctx, "ca"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("secret never put: %v, want ErrNotFound", err)
	}
	for i := range 10 {
		name := fmt.Sprintf("ca-%d", i)
		var wg sync.WaitGroup
		var va, vb []byte
		var ea, eb error
		wg.Add(2)
		go func() { defer wg.Done(); va, ea = a.PutSecret(ctx, name, []byte("made by a")) }()
		go func() { defer wg.Done(); vb, eb = b.PutSecret(ctx, name, []byte("made by b")) }()
		wg.Wait()
		if ea != nil || eb != nil {
			t.Fatal(ea, eb)
		}
		if !bytes.Equal(va, vb) {
			t.Fatalf("%s: a uses %q, b uses %q", name, va, vb)
		}
		if v, err := b.Secret(ctx, name); err != nil || !bytes.Equal(v, va) {
			t.Fatalf("%s: stored %q, %v; want %q", name, v, err, va)
		}
	}
	if _, err := a.PutSecret(ctx, "big", make([]byte, MaxSecret+1)); !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("a secret over the bound: %v, want ErrInvalid", err)
	}
	if _, err := a.Secret(ctx, "big"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("a refused secret was stored: %v", err)
	}
}
