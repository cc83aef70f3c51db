package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/equus-monitoring/equus/internal/leakcheck"
	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// TestMain fails the run when goroutines started by the tests outlive
// them, and stops the PostgreSQL server of the cluster's tests, if it
// started one.
func TestMain(m *testing.M) {
	code := leakcheck.Run(m, "equus/modes/helen/monitor.", "equus/state.")
	pgtest.Stop()
	os.Exit(code)
}

// waitFor is how long a test waits for something that should happen.
const waitFor = 10 * time.Second

// epoch is where the first fake clock of a test starts: a fixed time, so
// that the ticks of a schedule (offset, nextTick) fall at the same times
// in every run.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// testClock is the monitor's clock in the tests: a fake clock.
type testClock struct {
	*testingclock.FakeClock
}

// harness is a monitor on a bbolt store under t.TempDir, on a fake clock,
// with the fake agents a test connects to it.
type harness struct {
	t      *testing.T
	cfg    Config
	path   string
	db     *state.DB
	clk    *testClock
	reg    *metricset.Set
	m      *Monitor
	cancel context.CancelFunc
	agents map[*fakeAgent]bool // connected
}

// newHarness starts a monitor with cfg (its Clock and Log set by the
// harness, DownAfter helen's default if not set) on a new store. It is
// stopped when the test ends.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.DownAfter == 0 {
		cfg.DownAfter = time.Minute
	}
	h := &harness{t: t, cfg: cfg, path: filepath.Join(t.TempDir(), "helen.db"), agents: map[*fakeAgent]bool{}}
	h.start(epoch)
	t.Cleanup(h.stop)
	return h
}

// start opens the store and starts a monitor on it, on a new fake clock
// at now.
func (h *harness) start(now time.Time) {
	h.t.Helper()
	db, err := state.Open(h.path, state.Options{PruneInterval: -1})
	if err != nil {
		h.t.Fatal(err)
	}
	h.db = db
	h.clk = &testClock{FakeClock: testingclock.NewFakeClock(now)}
	h.reg = metricset.New(false)
	cfg := h.cfg
	cfg.Clock = h.clk
	cfg.Log = logtest.Logger(h.t)
	if h.m, err = New(db, cfg, h.reg); err != nil {
		db.Close()
		h.db = nil
		h.t.Fatal(err)
	}
	var ctx context.Context
	ctx, h.cancel = context.WithCancel(context.Background())
	h.m.Start(ctx)
}

// stop stops the monitor as helen does: its context ends, then the
// agents' connections, then Stop; and closes the store. Calling it again
// is harmless.
func (h *harness) stop() {
	if h.db == nil {
		return
	}
	h.cancel()
	for a := range h.agents {
		h.disconnect(a)
	}
	h.m.Stop()
	if err := h.db.Close(); err != nil {
		h.t.Error(err)
	}
	h.db = nil
}

// restart stops the monitor and closes the store, runs offline (if not
// nil) on the store as the helen commands do while helen is not running,
// and starts again on the store reopened, on a new clock where the old
// one was.
func (h *harness) restart(offline func(db state.Store)) {
	h.t.Helper()
	now := h.clk.Now()
	h.stop()
	if offline != nil {
		db, err := state.Open(h.path, state.Options{PruneInterval: -1, Existing: true})
		if err != nil {
			h.t.Fatal(err)
		}
		offline(db)
		if err := db.Close(); err != nil {
			h.t.Fatal(err)
		}
	}
	h.start(now)
}

// connect connects an agent named name, answering as beh says.
func (h *harness) connect(name string, beh behavior) *fakeAgent {
	a := &fakeAgent{name: name, beh: beh, clk: h.clk.FakeClock, log: logtest.Logger(h.t).With("agent", name), done: make(chan struct{})}
	h.agents[a] = true
	h.m.Connected(a)
	return a
}

// disconnect ends a's connection, its agent's current one, as the link
// to the agents tells it: the connection is closed first.
func (h *harness) disconnect(a *fakeAgent) {
	if !h.agents[a] {
		return
	}
	delete(h.agents, a)
	a.close()
	h.m.Disconnected(a, true)
}

// replaced ends a's connection after a newer one of its agent took its
// place: the link to the agents tells it with current false.
func (h *harness) replaced(a *fakeAgent) {
	delete(h.agents, a)
	a.close()
	h.m.Disconnected(a, false)
}

// put creates or changes a schedule.
func (h *harness) put(sch state.Schedule) state.Schedule {
	h.t.Helper()
	sch, err := h.m.PutSchedule(sch)
	if err != nil {
		h.t.Fatal(err)
	}
	return sch
}

// settle waits until n waiters wait on the clock: the monitor's two
// tickers (status writes and event pruning) and its sweep of the agents
// connected for silence, a timer for the runs of each schedule on an
// agent waiting for its tick, a grace period for each agent gone, a
// timer for each slow check in progress. A test steps the clock only
// then: a step that comes before a goroutine has armed its timer does not
// fire it. Each step removes the timers it fires at once and they are
// armed again once their work is done, so the count comes back to n only
// when the monitor waits again.
func (h *harness) settle(n int) {
	h.t.Helper()
	got := 0
	defer func() {
		if h.t.Failed() && got != n {
			h.t.Logf("%d waiters on the clock, not %d", got, n)
		}
	}()
	wait.Until(h.t, fmt.Sprintf("%d waiters on the clock", n), waitFor, time.Millisecond,
		func() bool { got = h.clk.Waiters(); return got == n })
}

// armed waits until the scheduler holds n runs of schedules on agents
// and each has armed its timer: runs that take the place of others (a
// schedule changed, an agent reconnected) arm theirs once the old ones
// have ended.
func (h *harness) armed(n int) {
	h.t.Helper()
	sc := h.m.sched
	wait.Until(h.t, fmt.Sprintf("%d runs armed", n), waitFor, time.Millisecond, func() bool {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		got := 0
		for _, rs := range sc.runs {
			for _, r := range rs {
				r.mu.Lock()
				ok := r.t != nil
				r.mu.Unlock()
				if !ok {
					return false
				}
				got++
			}
		}
		return got == n
	})
}

// step moves the clock by d, then waits until n waiters wait on it.
func (h *harness) step(d time.Duration, n int) {
	h.t.Helper()
	h.clk.Step(d)
	h.settle(n)
}

// steps makes k steps of d, waiting for n waiters after each.
func (h *harness) steps(k int, d time.Duration, n int) {
	h.t.Helper()
	for range k {
		h.step(d, n)
	}
}

// stepTo moves the clock to when, then waits until n waiters wait on it.
func (h *harness) stepTo(when time.Time, n int) {
	h.t.Helper()
	h.step(when.Sub(h.clk.Now()), n)
}

// tick is the next tick after now of the schedules on agent every every.
func (h *harness) tick(agent string, every time.Duration) time.Time {
	return nextTick(h.clk.Now(), every, offset(agent, every))
}

// page returns the families of the monitor's metrics, as /metrics
// writes them.
func (h *harness) page() map[string]*metricset.ParsedFamily {
	h.t.Helper()
	var b strings.Builder
	h.reg.WritePrometheus(&b)
	fams, err := metricset.Parse(b.String())
	if err != nil {
		h.t.Fatal(err)
	}
	return fams
}

// counter returns the value of the counter name of the monitor's
// metrics.
func (h *harness) counter(name string) float64 {
	h.t.Helper()
	if f := h.page()[name]; f != nil && f.Type == "counter" && len(f.Series) == 1 {
		return f.Series[0].Value
	}
	h.t.Fatalf("no counter %s on the page", name)
	return 0
}

// nextEvent waits for the next event of ch, failing the test after
// waitFor.
func nextEvent(t *testing.T, ch <-chan state.Event, what string) state.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for the event %s", what)
		return state.Event{}
	}
}

// event returns the event that ch holds now: the monitor publishes the
// events of a run before its timer is armed again, and that of an agent up
// before Connected returns.
func event(t *testing.T, ch <-chan state.Event, what string) state.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	default:
		t.Fatalf("no event %s", what)
		return state.Event{}
	}
}

// noEvent fails the test if ch holds an event.
func noEvent(t *testing.T, ch <-chan state.Event, after string) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Errorf("an event after %s: %+v", after, ev)
	default:
	}
}

// behavior is how a fake agent answers.
type behavior struct {
	// Delay is how long a check takes on the test's clock, by name.
	Delay map[string]time.Duration
	// Silent are the checks never answered, by name: they wait for the
	// end of their context.
	Silent map[string]bool
	// Script are the statuses of the results of checks, by name, one a
	// run in order; past its end the args say.
	Script map[string][]result.Status
}

// sent is a check a fake agent was sent, and when.
type sent struct {
	check string
	args  []byte
	at    time.Time
}

// fakeAgent is a connection of an agent, in memory. A check's result has
// the status its args name in "status" (ok by default) and a message of
// the check's name and the args' "tag"; it comes at once, after its
// Delay on the test's clock, or never (Silent). The agent keeps every
// check it was sent and how many it had at once.
type fakeAgent struct {
	name      string
	beh       behavior
	clk       clock.Clock
	log       *slog.Logger
	done      chan struct{}
	closeOnce sync.Once

	mu          sync.Mutex
	sent        []sent
	ran         map[string]int // checks sent, by name
	outstanding int
	most        int       // outstanding at most
	mutedAt     time.Time // when the agent fell silent, if it has
}

// errClosed is what a check on a closed connection returns.
var errClosed = errors.New("connection closed")

func (a *fakeAgent) Name() string          { return a.name }
func (a *fakeAgent) Done() <-chan struct{} { return a.done }
func (a *fakeAgent) Log() *slog.Logger     { return a.log }

func (a *fakeAgent) close() { a.closeOnce.Do(func() { close(a.done) }) }

// Silence is how long the agent has been mute: a connection of a live
// agent, which the link pings when idle, is never silent long.
func (a *fakeAgent) Silence() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mutedAt.IsZero() {
		return 0
	}
	return a.clk.Since(a.mutedAt)
}

// mute makes the agent silent from now, as a process stopped is: its link
// hears nothing more from it. Its checks are not answered meanwhile.
func (a *fakeAgent) mute() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mutedAt = a.clk.Now()
}

// speak ends the agent's silence: its link hears from it again.
func (a *fakeAgent) speak() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mutedAt = time.Time{}
}

// Check answers as the agent's behavior says; a check whose context ends
// first has status unknown at its deadline, an error when cancelled, as
// the link to the agents has it.
func (a *fakeAgent) Check(ctx context.Context, check string, args []byte) (result.Doc, error) {
	a.mu.Lock()
	a.sent = append(a.sent, sent{check, slices.Clone(args), a.clk.Now()})
	var scripted result.Status
	if n := a.ran[check]; n < len(a.beh.Script[check]) {
		scripted = a.beh.Script[check][n]
	}
	if a.ran == nil {
		a.ran = map[string]int{}
	}
	a.ran[check]++
	a.outstanding++
	a.most = max(a.most, a.outstanding)
	muted := !a.mutedAt.IsZero()
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.outstanding--
		a.mu.Unlock()
	}()
	if closed(a) {
		return result.Doc{}, errClosed
	}
	var answered <-chan time.Time
	switch d := a.beh.Delay[check]; {
	case d > 0:
		t := a.clk.NewTimer(d)
		defer t.Stop()
		answered = t.C()
	case !a.beh.Silent[check] && !muted:
		return answer(check, args, scripted), nil
	}
	select {
	case <-answered:
		return answer(check, args, scripted), nil
	case <-a.done:
		return result.Doc{}, errClosed
	case <-ctx.Done():
	}
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return result.Unknownf("no result from %s", a.name), nil
	}
	return result.Doc{}, ctx.Err()
}

// answer is the result of check with args, of status scripted if not "".
func answer(check string, args []byte, scripted result.Status) result.Doc {
	var in struct{ Status, Tag string }
	json.Unmarshal(args, &in)
	doc := result.Doc{Status: result.Status(in.Status), Message: check, DurationMS: 0.1}
	if scripted != "" {
		doc.Status = scripted
	}
	if doc.Status == "" {
		doc.Status = result.OK
	}
	if in.Tag != "" {
		doc.Message += " " + in.Tag
	}
	return doc
}

// count returns how many checks named check the agent was sent.
func (a *fakeAgent) count(check string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, s := range a.sent {
		if s.check == check {
			n++
		}
	}
	return n
}

// times returns when the agent was sent the checks named check.
func (a *fakeAgent) times(check string) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []time.Time
	for _, s := range a.sent {
		if s.check == check {
			out = append(out, s.at)
		}
	}
	return out
}

// mostAtOnce returns how many checks the agent had at once, at most.
func (a *fakeAgent) mostAtOnce() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.most
}
