package server

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/modes/helen/internal/helentest"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
	"github.com/equus-monitoring/equus/wire"
)

// startPeerShared starts a helen with id on the shared store at url, with
// its peer listener on loopback.
func startPeerShared(t testing.TB, url, id string, key []byte, cfg Config) *testHelen {
	t.Helper()
	cfg.Store, cfg.HelenID, cfg.StoreKey, cfg.PeerListen = url, id, key, "127.0.0.1:0"
	return startHelen(t, cfg)
}

// waitHeld waits until h holds agent's session and its row among the
// helens has its peer listener's address.
func waitHeld(t testing.TB, st state.Cluster, h *testHelen, agent string) {
	t.Helper()
	poll(t, h.srv.ID()+" to hold "+agent+" and advertise "+h.srv.PeerAddr(), func() bool {
		c, err := st.Owner(context.Background(), agent)
		if err != nil || !c.Held || c.Helen != h.srv.ID() {
			return false
		}
		hs, err := st.Helens(context.Background())
		for _, row := range hs {
			if row.ID == h.srv.ID() {
				return err == nil && row.Addr == h.srv.PeerAddr()
			}
		}
		return false
	})
}

// TestForwardSharedStore: on helens of one PostgreSQL store, helen run,
// a batch of runs, a reload and a shell session asked of one reach the
// agent the other holds, found by its claim and the other's row; once
// the other let it go, the agent is not connected, as on a helen alone.
func TestForwardSharedStore(t *testing.T) {
	url, key := pgtest.DB(t), newStoreKey()
	a := startPeerShared(t, url, "helen-a", key, Config{})
	b := startPeerShared(t, url, "helen-b", key, Config{})
	st := cluster(t, url)
	agent := startAgent(t, b, "web-1", behavior{})
	agent.Ready()
	helentest.StartShellAgent(t, b, "web2", helentest.ShellBehavior{Serve: helentest.EchoShell})
	waitHeld(t, st, b, "web-1")
	waitHeld(t, st, b, "web2")

	// equus.ping, whose result is not stored: what is stored of a run is
	// the store's business (TestForwardRun).
	doc, err := a.srv.Run(t.Context(), "web-1", "equus.ping", nil, waitFor)
	if err != nil || doc.Status != result.OK {
		t.Fatalf("run through helen-a: %+v %v", doc, err)
	}
	sock := adminFor(t, a)
	var got result.Doc
	if err := sock.do(t.Context(), "POST", "/v1/agents/web-1/run", web.RunRequest{Check: "equus.ping"}, &got); err != nil || got.Status != result.OK {
		t.Fatalf("helen run on helen-a: %+v %v", got, err)
	}
	var outs []web.RunOutcome
	runs := web.RunsRequest{Runs: []web.RunRequest{{Check: "equus.ping"}, {Check: "equus.ping"}}}
	if err := sock.do(t.Context(), "POST", "/v1/agents/web-1/runs", runs, &outs); err != nil || len(outs) != 2 || outs[1].Result == nil {
		t.Fatalf("runs on helen-a: %+v %v", outs, err)
	}
	if n := agent.CountChecks("equus.ping"); n < 4 {
		t.Errorf("the agent on helen-b answered %d pings, want 4 at least", n)
	}
	if err := a.srv.Reload(t.Context(), "web-1"); err != nil {
		t.Fatalf("reload through helen-a: %v", err)
	}
	poll(t, "the agent to get reload", func() bool {
		ms := agent.Received()
		return len(ms) > 0 && ms[len(ms)-1].Kind == wire.KindReload
	})

	c, br, code, msg := openShell(t, a, "web2", web.ShellRequest{Command: []string{"cat"}}, true)
	if c == nil {
		t.Fatalf("shell through helen-a: %d %s", code, msg)
	}
	shellwire.Write(c, shellwire.Frame{Type: shellwire.TypeStdin, Payload: []byte("hi")})
	if f, err := shellwire.NewReader(br).Read(); err != nil || string(f.Payload) != "hi" {
		t.Fatalf("echo: %q %v", f.Payload, err)
	}
	c.Close()
	poll(t, "helen-b to record the session's end", func() bool { return len(eventsOf(t, b, EventSessionEnd)) == 1 })

	// b lets web-1 go: no helen holds it.
	agent.Close()
	poll(t, "web-1's claim released", func() bool {
		c, err := st.Owner(context.Background(), "web-1")
		return err == nil && !c.Held
	})
	_, err = a.srv.Run(t.Context(), "web-1", "load", nil, waitFor)
	if !errors.Is(err, ErrNotConnected) || err.Error() != "helen: agent not connected: web-1" {
		t.Fatalf("run on an agent no helen holds: %v", err)
	}
}

// TestClusterDirectory: the holder of an agent is the live helen of its
// held claim, with its row's address; none for an agent never claimed, a
// claim released, one of this helen's own, or one of a helen whose last
// heartbeat is HelenDead old.
func TestClusterDirectory(t *testing.T) {
	st := cluster(t, pgtest.DB(t))
	ctx := context.Background()
	now := time.Now()
	clock := now
	d := &clusterDirectory{store: st, self: "helen-a", now: func() time.Time { return clock }}
	for _, h := range []state.Helen{
		{ID: "helen-a", Addr: "127.0.0.1:1", Started: now, Beat: now},
		{ID: "helen-b", Addr: "127.0.0.1:2", Started: now, Beat: now},
		{ID: "helen-dead", Addr: "127.0.0.1:3", Started: now, Beat: now.Add(-HelenDead)},
	} {
		if err := st.Beat(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	for agent, helen := range map[string]string{"on-a": "helen-a", "on-b": "helen-b", "on-dead": "helen-dead", "released": "helen-b"} {
		c, err := st.Claim(ctx, agent, helen, now)
		if err != nil {
			t.Fatal(err)
		}
		if agent == "released" {
			if err := st.Unclaim(ctx, c, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if h, err := d.holder(ctx, "on-b"); err != nil || h.ID != "helen-b" || h.Addr != "127.0.0.1:2" {
		t.Fatalf("holder of on-b: %+v %v", h, err)
	}
	for _, agent := range []string{"never", "released", "on-a", "on-dead"} {
		if h, err := d.holder(ctx, agent); !errors.Is(err, errNoHolder) {
			t.Errorf("holder of %s: %+v %v, want none", agent, h, err)
		}
	}
	// helen-b's beat is read again once the list is older than
	// helensFresh; past HelenDead without one, it is dead.
	clock = now.Add(HelenDead)
	if h, err := d.holder(ctx, "on-b"); !errors.Is(err, errNoHolder) {
		t.Errorf("holder of on-b, its helen dead: %+v %v", h, err)
	}
	if err := st.Beat(ctx, state.Helen{ID: "helen-b", Addr: "127.0.0.1:4", Started: now, Beat: clock}); err != nil {
		t.Fatal(err)
	}
	if h, err := d.holder(ctx, "on-b"); err != nil || h.Addr != "127.0.0.1:4" {
		t.Errorf("holder of on-b after it beat from another address: %+v %v", h, err)
	}
}

// BenchmarkForwardedPingShared is BenchmarkForwardedPing on helens of one
// PostgreSQL store, each forwarded ping reading the agent's claim and
// (once a second) the helens' rows.
func BenchmarkForwardedPingShared(b *testing.B) {
	url, key := pgtest.DB(b), newStoreKey()
	cfg := Config{Log: slog.New(slog.DiscardHandler)}
	a := startPeerShared(b, url, "helen-a", key, cfg)
	h := startPeerShared(b, url, "helen-b", key, cfg)
	agent := startAgent(b, h, "bench", behavior{Forget: true})
	agent.Ready()
	st, err := pgstore.Open(context.Background(), url, pgstore.Options{Helen: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	waitHeld(b, st, h, "bench")
	benchPings(b, h, a)
}
