package monitor

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
)

// cluster is helens' monitors on one PostgreSQL database, on one fake
// clock, each beating at every step as a live helen does, with the fake
// agents a test connects to them: each claimed by its helen as the link
// claims it at hello, and released when its session ends.
type cluster struct {
	t      *testing.T
	url    string
	clk    *testClock
	cfg    Config
	helens []*node
}

// node is one helen of a cluster.
type node struct {
	c      *cluster
	id     string
	store  *pgstore.Store
	m      *Monitor
	cancel context.CancelFunc
	alive  bool
	events <-chan state.Event
	unsub  func()

	mu     sync.Mutex
	seen   []state.Event // of events, those it published
	agents map[*fakeAgent]state.Claim
}

// newCluster starts n helens h1..hn on a new database, with cfg (its
// Clock and Log set here, DownAfter a minute if not set). They stop when
// the test ends.
func newCluster(t *testing.T, n int, cfg Config) *cluster {
	t.Helper()
	if cfg.DownAfter == 0 {
		cfg.DownAfter = time.Minute
	}
	c := &cluster{t: t, url: pgtest.DB(t), clk: &testClock{FakeClock: testingclock.NewFakeClock(epoch)}, cfg: cfg}
	for i := range n {
		c.start(fmt.Sprintf("h%d", i+1))
	}
	c.beat()
	t.Cleanup(func() {
		for _, h := range c.helens {
			h.stop()
		}
	})
	return c
}

func (c *cluster) start(id string) *node {
	c.t.Helper()
	s, err := pgstore.Open(context.Background(), c.url, pgstore.Options{Helen: id})
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := c.cfg
	cfg.Clock = c.clk
	cfg.Log = logtest.Logger(c.t).With("helen", id)
	m, err := New(s, cfg, metricset.New(false))
	if err != nil {
		s.Close()
		c.t.Fatal(err)
	}
	h := &node{c: c, id: id, store: s, m: m, alive: true, agents: map[*fakeAgent]state.Claim{}}
	h.events, h.unsub = m.Subscribe(1024)
	var ctx context.Context
	ctx, h.cancel = context.WithCancel(context.Background())
	m.Start(ctx)
	c.helens = append(c.helens, h)
	return h
}

// stop stops h as helen does when it ends, or as its death does (its
// sessions end, its claims stay and its heartbeat stops); again is
// harmless.
func (h *node) stop() {
	if !h.alive {
		return
	}
	h.alive = false
	h.cancel()
	for a := range h.agents {
		a.close()
		h.m.Disconnected(a, true)
	}
	h.m.Stop()
	h.unsub()
	if err := h.store.Close(); err != nil {
		h.c.t.Error(err)
	}
}

// beat records the heartbeat of every live helen at the clock's time.
func (c *cluster) beat() {
	c.t.Helper()
	for _, h := range c.helens {
		if !h.alive {
			continue
		}
		err := h.store.Beat(context.Background(), state.Helen{ID: h.id, Addr: "127.0.0.1:1", Started: epoch, Beat: c.clk.Now()})
		if err != nil {
			c.t.Fatal(err)
		}
	}
}

// connect claims name for h, records it seen, and hands h its new
// session, as the hub does at its hello.
func (h *node) connect(name string) *fakeAgent {
	h.c.t.Helper()
	cl, err := h.store.Claim(context.Background(), name, h.id, h.c.clk.Now())
	if err != nil {
		h.c.t.Fatal(err)
	}
	if err := h.store.AgentSeen(state.Agent{Name: name, Connected: true, LastSeen: h.c.clk.Now()}); err != nil {
		h.c.t.Fatal(err)
	}
	a := &fakeAgent{name: name, clk: h.c.clk.FakeClock, log: logtest.Logger(h.c.t).With("agent", name, "helen", h.id), done: make(chan struct{})}
	h.agents[a] = cl
	h.m.Connected(a)
	return a
}

// disconnect ends a's session on h and releases its claim.
func (h *node) disconnect(a *fakeAgent) {
	h.c.t.Helper()
	cl := h.agents[a]
	delete(h.agents, a)
	a.close()
	h.m.Disconnected(a, true)
	if err := h.store.Unclaim(context.Background(), cl, h.c.clk.Now()); err != nil {
		h.c.t.Fatal(err)
	}
}

// waiters is how many waiters the live monitors have on the clock when
// they wait: their tickers and sweeps, a timer for each run of a
// schedule and for each grace period.
func (c *cluster) waiters() int {
	n := 0
	for _, h := range c.helens {
		if !h.alive {
			// A fake clock's tickers stay its waiters once stopped.
			n += tickers - 1
			continue
		}
		n += tickers
		sc := h.m.sched
		sc.mu.Lock()
		for _, rs := range sc.runs {
			n += len(rs)
		}
		sc.mu.Unlock()
		h.m.status.mu.Lock()
		n += len(h.m.status.gone)
		h.m.status.mu.Unlock()
	}
	return n
}

// settle waits until the monitors wait on the clock.
func (c *cluster) settle() {
	c.t.Helper()
	got, want := 0, 0
	defer func() {
		if c.t.Failed() && got != want {
			c.t.Logf("%d waiters on the clock, not %d", got, want)
		}
	}()
	wait.Until(c.t, "the monitors to wait on the clock", waitFor, time.Millisecond, func() bool {
		got, want = c.clk.Waiters(), c.waiters()
		return got == want
	})
}

// steps makes k steps of d, beating and settling after each.
func (c *cluster) steps(k int, d time.Duration) {
	c.t.Helper()
	for range k {
		c.clk.Step(d)
		c.beat()
		c.settle()
	}
}

// take moves the events each live helen published so far to its seen.
func (c *cluster) take() {
	for _, h := range c.helens {
		h.mu.Lock()
		for more := true; more; {
			select {
			case ev := <-h.events:
				h.seen = append(h.seen, ev)
			default:
				more = false
			}
		}
		h.mu.Unlock()
	}
}

// forget forgets the events the helens published so far.
func (c *cluster) forget() {
	c.take()
	for _, h := range c.helens {
		h.mu.Lock()
		h.seen = nil
		h.mu.Unlock()
	}
}

// published returns the events of agent to to that the helens published,
// by helen.
func (c *cluster) published(agent, to string) map[string]int {
	c.take()
	out := map[string]int{}
	for _, h := range c.helens {
		h.mu.Lock()
		for _, ev := range h.seen {
			if ev.Agent == agent && ev.Schedule == "" && ev.To == to {
				out[h.id]++
			}
		}
		h.mu.Unlock()
	}
	return out
}

// stored returns the events of agent to to in the store.
func (c *cluster) stored(agent, to string) []state.Event {
	c.t.Helper()
	var h *node
	for _, n := range c.helens {
		if n.alive {
			h = n
		}
	}
	evs, err := h.store.Events(time.Time{}, time.Time{}, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	var out []state.Event
	for _, ev := range evs {
		if ev.Agent == agent && ev.Schedule == "" && ev.To == to {
			out = append(out, ev)
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestClusterDownOnce: an agent that leaves one helen of two and never
// comes back is declared down once, by one of them, and both show it
// down; when it comes back to the other, it is up once.
func TestClusterDownOnce(t *testing.T) {
	c := newCluster(t, 2, Config{})
	h1, h2 := c.helens[0], c.helens[1]
	const every = 10 * time.Second
	a := h1.connect("web-1")
	if _, err := h1.m.PutSchedule(state.Schedule{Name: "s", Check: "c", Every: every}); err != nil {
		t.Fatal(err)
	}
	c.settle()
	c.steps(2, every)
	if a.count("c") == 0 {
		t.Fatal("the schedule did not run on web-1")
	}
	h1.disconnect(a)
	c.settle()
	// Three times DownAfter: the grace period of h1, and the sweeps of
	// both for the agents no helen holds.
	c.steps(36, 5*time.Second)
	wait.Until(t, "a down event", waitFor, time.Millisecond, func() bool { return total(c.published("web-1", "down")) > 0 })
	c.steps(2, 5*time.Second)
	if got := c.published("web-1", "down"); total(got) != 1 {
		t.Errorf("down published %v, want once by one helen", got)
	}
	if got := c.stored("web-1", "down"); len(got) != 1 {
		t.Errorf("%d down events stored, want 1: %+v", len(got), got)
	}
	for _, h := range c.helens {
		wait.Until(t, h.id+" showing web-1 down", waitFor, time.Millisecond, func() bool {
			sts := h.m.Statuses(false)
			return len(sts) == 1 && sts[0].Kind == KindAgentDown && sts[0].Agent == "web-1"
		})
	}
	// Back, on the other helen: up once.
	h2.connect("web-1")
	c.settle()
	c.steps(2, 5*time.Second)
	if got := c.published("web-1", "up"); total(got) != 1 || got["h2"] != 1 {
		t.Errorf("up published %v, want once by h2", got)
	}
	if got := c.stored("web-1", "up"); len(got) != 1 {
		t.Errorf("%d up events stored, want 1", len(got))
	}
}

// TestClusterKilledHelen: the agents of a helen that dies (its claims
// left held, its heartbeat stopped) and that no helen takes are declared
// down once, by one of the two others, DownAfter after it is dead; one
// forgotten meanwhile on one of them is not.
func TestClusterKilledHelen(t *testing.T) {
	c := newCluster(t, 3, Config{})
	h1, h2 := c.helens[0], c.helens[1]
	for i := range 4 {
		h1.connect(fmt.Sprintf("web-%d", i))
	}
	c.settle()
	c.steps(2, 5*time.Second)
	h1.stop()
	killed := c.clk.Now()
	c.settle()
	// Forgotten through the store, as helen forget on another helen
	// does: none of these knows it.
	if err := h2.store.Forget("web-3", killed); err != nil {
		t.Fatal(err)
	}
	for c.clk.Now().Before(killed.Add(state.DeadHelen + c.cfg.DownAfter - 5*time.Second)) {
		c.steps(1, 5*time.Second)
	}
	for i := range 3 {
		if got := c.published(fmt.Sprintf("web-%d", i), "down"); total(got) != 0 {
			t.Fatalf("web-%d down before its helen was dead for DownAfter: %v", i, got)
		}
	}
	c.steps(4, 5*time.Second)
	for i := range 3 {
		agent := fmt.Sprintf("web-%d", i)
		wait.Until(t, agent+" down", waitFor, time.Millisecond, func() bool { return total(c.published(agent, "down")) > 0 })
	}
	c.steps(4, 5*time.Second)
	for i := range 3 {
		agent := fmt.Sprintf("web-%d", i)
		if got := c.published(agent, "down"); total(got) != 1 || got["h1"] != 0 {
			t.Errorf("%s down published %v, want once by h2 or h3", agent, got)
		}
		if got := c.stored(agent, "down"); len(got) != 1 {
			t.Errorf("%s: %d down events stored, want 1", agent, len(got))
		}
	}
	if got := c.published("web-3", "down"); total(got) != 0 {
		t.Errorf("web-3, forgotten, down published %v", got)
	}
}

// TestClusterMove: an agent that moves from one helen to another within
// DownAfter is never declared down; the other reads its statuses as its
// session starts (its first result there, unchanged, is no event), and a
// schedule added through the first runs on it there at once.
func TestClusterMove(t *testing.T) {
	c := newCluster(t, 2, Config{})
	h1, h2 := c.helens[0], c.helens[1]
	const every = 10 * time.Second
	a := h1.connect("web-1")
	b := h2.connect("db-1")
	if _, err := h1.m.PutSchedule(state.Schedule{Name: "s", Check: "c", Every: every}); err != nil {
		t.Fatal(err)
	}
	// Put through h1, it runs on db-1, h2's, at once.
	wait.Until(t, "s running on db-1 on h2", waitFor, time.Millisecond, func() bool {
		return slices.Equal(h2.m.Runs("s"), []string{"db-1"})
	})
	c.settle()
	c.steps(2, every)
	if a.count("c") != 2 || b.count("c") != 2 {
		t.Fatalf("runs of s: %d on web-1 (h1), %d on db-1 (h2), want 2 each", a.count("c"), b.count("c"))
	}
	c.forget()
	h1.disconnect(a)
	c.steps(6, 5*time.Second) // half of DownAfter
	a = h2.connect("web-1")
	c.settle()
	c.steps(1, every)
	if a.count("c") != 1 {
		t.Errorf("%d runs of s on web-1 on h2, want 1", a.count("c"))
	}
	c.steps(30, 5*time.Second) // 2.5 times DownAfter
	for _, agent := range []string{"web-1", "db-1"} {
		if got := c.published(agent, "down"); total(got) != 0 {
			t.Errorf("%s down: %v", agent, got)
		}
	}
	for _, h := range c.helens {
		h.mu.Lock()
		for _, ev := range h.seen {
			if ev.Agent == "web-1" {
				t.Errorf("%s: event after web-1 moved: %+v", h.id, ev)
			}
		}
		h.mu.Unlock()
	}
	// Changed through h2, it changes on h1; removed, it stops on both.
	if _, err := h2.m.PutSchedule(state.Schedule{Name: "s", Check: "c2", Every: every}); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "s changed on h1", waitFor, time.Millisecond, func() bool {
		ss := h1.m.Schedules()
		return len(ss) == 1 && ss[0].Check == "c2"
	})
	if err := h2.m.DeleteSchedule("s"); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "s gone on h1", waitFor, time.Millisecond, func() bool { return len(h1.m.Schedules()) == 0 })
}

// TestClusterRules: routes, silences and acknowledgements changed through
// one helen are the next decisions' on the other at once: a problem of
// an agent held by the other goes to a route added through the first.
func TestClusterRules(t *testing.T) {
	c := newCluster(t, 2, Config{})
	h1, h2 := c.helens[0], c.helens[1]
	const every = 10 * time.Second
	b := h2.connect("db-1")
	rules := func(h *node) (routes, silences, acks int) {
		e := h.m.status.engine
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.routes), len(e.silences), len(e.acks)
	}
	route := state.Route{Name: "ops", Receivers: []state.Receiver{{Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: "https://127.0.0.1:1/hook"}}}}
	if err := h1.store.PutRoute(route); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the route on h2", waitFor, time.Millisecond, func() bool { r, _, _ := rules(h2); return r == 1 })
	if _, err := h1.m.PutSchedule(state.Schedule{Name: "s", Check: "c", Every: every, Args: []byte(`{"status":"critical"}`)}); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "s running on db-1 on h2", waitFor, time.Millisecond, func() bool {
		return slices.Equal(h2.m.Runs("s"), []string{"db-1"})
	})
	c.settle()
	c.steps(1, every)
	if b.count("c") != 1 {
		t.Fatalf("%d runs of s on db-1, want 1", b.count("c"))
	}
	ns, _, err := h1.store.Notifications(state.NotificationQuery{Agent: "db-1"})
	if err != nil || len(ns) != 1 || ns[0].Route != "ops" || ns[0].Schedule != "s" {
		t.Errorf("notifications of db-1 = %+v, %v; want the problem of s to ops", ns, err)
	}
	if _, err := h1.store.AddSilence(state.Silence{ID: "quiet", Agents: "db-*", Start: epoch, End: epoch.Add(time.Hour), Comment: "work"}); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the silence on h2", waitFor, time.Millisecond, func() bool { _, s, _ := rules(h2); return s == 1 })
	if err := h1.store.Ack(state.Ack{Agent: "db-1", Schedule: "s", Author: "ann", Comment: "on it", Time: c.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the acknowledgement on h2", waitFor, time.Millisecond, func() bool { _, _, a := rules(h2); return a == 1 })
	if err := h1.store.DeleteRoute("ops"); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the route gone on h2", waitFor, time.Millisecond, func() bool { r, _, _ := rules(h2); return r == 0 })
}

// TestClusterFencedFlush: when another helen has taken one of a helen's
// agents over, the helen's next write of statuses still stores those of
// its other agents, and none of the agent taken.
func TestClusterFencedFlush(t *testing.T) {
	c := newCluster(t, 2, Config{})
	h1, h2 := c.helens[0], c.helens[1]
	const every = 10 * time.Second
	h1.connect("web-1")
	h1.connect("db-2")
	sch, err := h1.m.PutSchedule(state.Schedule{Name: "s", Check: "c", Every: every})
	if err != nil {
		t.Fatal(err)
	}
	c.settle()
	c.steps(1, every)
	h1.m.status.flush()
	// Results that change nothing wait in memory for the next flush.
	for _, agent := range []string{"web-1", "db-2"} {
		h1.m.status.record(context.Background(), agent, sch, result.Doc{Status: result.OK, Message: "later"}, c.clk.Now())
	}
	if _, err := h2.store.Claim(context.Background(), "web-1", h2.id, c.clk.Now()); err != nil {
		t.Fatal(err)
	}
	h1.m.status.flush()
	msgs := map[string]string{}
	sts, err := h2.store.Statuses("")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		msgs[st.Agent] = st.Message
	}
	if msgs["db-2"] != "later" || msgs["web-1"] == "later" {
		t.Errorf("stored messages %v: want db-2's written by h1, web-1's not (h2 holds it)", msgs)
	}
}
