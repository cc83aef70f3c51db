package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
	"k8s.io/utils/clock"
)

// Bounds of a schedule.
const (
	minEvery       = 10 * time.Millisecond
	DefaultTimeout = 30 * time.Second
)

// CheckSchedule fills in the defaults of s and reports what is wrong with
// it.
func CheckSchedule(s *state.Schedule) error {
	if s.Agents == "" {
		s.Agents = "*"
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Attempts == 0 {
		s.Attempts = 1
	}
	if s.RetryEvery == 0 {
		s.RetryEvery = s.Every
	}
	switch {
	case !agentname.Valid(s.Name): // schedule names follow the same rule
		return fmt.Errorf("bad schedule name %q: 1 to 64 of A-Z a-z 0-9 . _ -", s.Name)
	case !wire.ValidString(s.Check):
		return fmt.Errorf("schedule %s: bad check name %q", s.Name, s.Check)
	case s.Every < minEvery:
		return fmt.Errorf("schedule %s: interval %v is under %v", s.Name, s.Every, minEvery)
	case s.Timeout < 0:
		return fmt.Errorf("schedule %s: negative timeout %v", s.Name, s.Timeout)
	case s.Attempts < 1 || s.Attempts > state.MaxAttempts:
		return fmt.Errorf("schedule %s: %d attempts: give 1 to %d", s.Name, s.Attempts, state.MaxAttempts)
	case s.RetryEvery < minEvery || s.RetryEvery > s.Every:
		return fmt.Errorf("schedule %s: retry interval %v: give %v to the interval, %v", s.Name, s.RetryEvery, minEvery, s.Every)
	}
	if _, err := path.Match(s.Agents, ""); err != nil {
		return fmt.Errorf("schedule %s: agents %q: %w", s.Name, s.Agents, err)
	}
	if len(s.Args) > wire.MaxBlob-64 { // room for the _timeout_ms helen adds
		return fmt.Errorf("schedule %s: args of %d bytes: the protocol carries at most %d", s.Name, len(s.Args), wire.MaxBlob-64)
	}
	if len(s.Args) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(s.Args, &obj); err != nil {
			return fmt.Errorf("schedule %s: args must be a JSON object: %w", s.Name, err)
		}
	}
	return nil
}

// Matches reports whether the schedule runs on the agent.
func Matches(s state.Schedule, agent string) bool {
	ok, _ := path.Match(s.Agents, agent)
	return ok
}

// offset is where in every the runs of an agent's schedules fall: a
// hash of the agent's name, so that it is the same after a restart and
// the agents that share a schedule are spread over its interval. Every
// schedule of an agent with one interval ticks at the same instant, as
// Prometheus scrapes all of a target at its one offset: its checks go
// out in one write and their results come back together, where an
// offset per schedule costs a write, a read and a wakeup at both ends
// for each check. Intervals that divide one another share ticks too
// (every sixth tick of a 10s schedule is that of a 60s one). The price
// is that an agent starts its checks of an instant at once; it runs up
// to its --concurrency of them together and queues the rest (docs/DESIGN.md
// weighs it where it describes schedule add).
func offset(agent string, every time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(agent))
	return time.Duration(mix(h.Sum64()) % uint64(every))
}

// mix is the finaliser of splitmix64: FNV alone leaves names that differ
// only in their last characters close together.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// nextTick returns the first time after now that falls off past a
// multiple of every since the Unix epoch.
func nextTick(now time.Time, every, off time.Duration) time.Time {
	n := now.UnixNano()
	e, o := int64(every), int64(off)
	last := n - ((n-o)%e+e)%e // the latest tick at or before now
	return time.Unix(0, last+e)
}

// pair names the runs of one schedule on one agent.
type pair struct{ agent, schedule string }

// run runs one schedule on one session at its ticks: a timer whose
// function runs the schedule once and arms the timer again, so that a
// schedule waiting for its tick holds no goroutine. A goroutine for each
// schedule on each agent would be tens of thousands of stacks with a
// thousand agents, which every collection scans; the runs going at once
// are a few hundred.
type run struct {
	sc     *scheduler
	a      Agent
	s      state.Schedule
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed once no run goes on and none will
	off    time.Duration // of its ticks (offset)

	// Of the runs, one at a time: made by arm, then the timer's alone.
	args   []byte  // made by the first run (runOnce)
	rc     *runCtx // the context of each run
	next   time.Time
	onTick bool // next is a tick, not a retry

	mu        sync.Mutex
	t         clock.Timer // nil until armed
	going     bool        // a run is going
	ended     bool        // no more runs: ctx ended, or the session
	finished  bool        // done is closed
	stopWatch func() bool // the context.AfterFunc of ctx
}

// scheduler runs every schedule on the connected agents it matches.
type scheduler struct {
	m *Monitor

	mu        sync.Mutex
	ctx       context.Context // nil until start and after stop
	schedules map[string]state.Schedule
	agents    map[string]Agent // the current connection of each agent
	// runs are by agent, then schedule: an agent that disconnects ends
	// its own, not a walk over every schedule of every agent (32,000
	// with 1,000 agents of 32 schedules, for each of the 1,000 when
	// they all go).
	runs map[string]map[string]*run
	wg   sync.WaitGroup
}

func newScheduler(m *Monitor, schedules []state.Schedule) *scheduler {
	sc := &scheduler{
		m:         m,
		schedules: map[string]state.Schedule{},
		agents:    map[string]Agent{},
		runs:      map[string]map[string]*run{},
	}
	for _, s := range schedules {
		sc.schedules[s.Name] = s
	}
	return sc
}

// start runs the schedules until ctx ends or stop is called.
func (sc *scheduler) start(ctx context.Context) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.ctx = ctx
	for _, a := range sc.agents {
		sc.attachLocked(a)
	}
}

// stop ends every run and waits for them.
func (sc *scheduler) stop() {
	sc.mu.Lock()
	sc.ctx = nil
	for _, rs := range sc.runs {
		for _, r := range rs {
			r.cancel()
		}
	}
	clear(sc.runs)
	sc.mu.Unlock()
	sc.wg.Wait()
}

// attach starts the schedules of a newly connected agent's session. It
// takes the place of the agent's older session, if any.
func (sc *scheduler) attach(a Agent) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.agents[a.Name()] = a
	sc.attachLocked(a)
}

func (sc *scheduler) attachLocked(a Agent) {
	for _, s := range sc.schedules {
		if Matches(s, a.Name()) {
			sc.startLocked(a, s)
		}
	}
}

// detach ends the runs of a session that closed.
func (sc *scheduler) detach(a Agent) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.agents[a.Name()] == a {
		delete(sc.agents, a.Name())
	}
	rs := sc.runs[a.Name()]
	for name, r := range rs {
		if r.a == a {
			r.cancel()
			delete(rs, name)
		}
	}
	if len(rs) == 0 {
		delete(sc.runs, a.Name())
	}
}

// put starts (or restarts) the runs of a new or changed schedule.
func (sc *scheduler) put(s state.Schedule) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.putLocked(s)
}

func (sc *scheduler) putLocked(s state.Schedule) {
	sc.schedules[s.Name] = s
	for name, a := range sc.agents {
		if Matches(s, name) {
			sc.startLocked(a, s)
		} else {
			sc.stopLocked(pair{name, s.Name})
		}
	}
}

// remove ends the runs of a schedule.
func (sc *scheduler) remove(name string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.removeLocked(name)
}

func (sc *scheduler) removeLocked(name string) {
	delete(sc.schedules, name)
	for agent := range sc.runs {
		sc.stopLocked(pair{agent, name})
	}
}

// list returns the schedules, by name.
func (sc *scheduler) list() []state.Schedule {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	out := make([]state.Schedule, 0, len(sc.schedules))
	for _, s := range sc.schedules {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b state.Schedule) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (sc *scheduler) stopLocked(k pair) {
	rs := sc.runs[k.agent]
	if r, ok := rs[k.schedule]; ok {
		r.cancel()
		delete(rs, k.schedule)
		if len(rs) == 0 {
			delete(sc.runs, k.agent)
		}
	}
}

// startLocked starts running s on a, in place of the run of the pair
// that was there; the new run waits for the old one to end, so that a
// schedule never runs twice at once on an agent.
func (sc *scheduler) startLocked(a Agent, s state.Schedule) {
	if sc.ctx == nil {
		return
	}
	rs := sc.runs[a.Name()]
	if rs == nil {
		rs = map[string]*run{}
		sc.runs[a.Name()] = rs
	}
	prev := rs[s.Name]
	if prev != nil {
		prev.cancel()
	}
	ctx, cancel := context.WithCancel(sc.ctx)
	r := &run{sc: sc, a: a, s: s, ctx: ctx, cancel: cancel, done: make(chan struct{}), off: offset(a.Name(), s.Every)}
	rs[s.Name] = r
	sc.wg.Add(2) // the runs, and arm
	r.mu.Lock()
	r.stopWatch = context.AfterFunc(ctx, r.halt)
	r.mu.Unlock()
	go func() {
		defer sc.wg.Done()
		r.arm(prev)
	}()
}

// arm arms the timer of the first run, once prev (nil for none) has
// ended. While the status is soft (a problem not confirmed yet) the next
// run comes s.RetryEvery after the result instead of at the tick, and
// once it is hard or ok again at the next tick. A status left soft
// (helen restarted, the schedule changed) has its retry where the last
// result put it, if that comes first.
func (r *run) arm(prev *run) {
	if prev != nil {
		<-prev.done
	}
	if r.ctx.Err() != nil {
		return // halt finishes it
	}
	clk := r.sc.m.clock
	r.next, r.onTick = nextTick(clk.Now(), r.s.Every, r.off), true
	if last, soft := r.sc.m.status.soft(pair{r.a.Name(), r.s.Name}); soft {
		if retry := last.Add(r.s.RetryEvery); retry.Before(r.next) {
			r.next, r.onTick = later(retry, clk.Now()), false
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		r.finishLocked()
		return
	}
	r.rc = newRunCtx(r.ctx)
	// In a goroutine of its own: a fake clock calls f as it steps,
	// holding its lock, which the run's clk.Now would wait for.
	r.t = clk.AfterFunc(r.next.Sub(clk.Now()), func() { go r.fire() })
}

// fire runs the schedule at a tick (or retry) and arms the timer for the
// next. A run still going at a tick skips that tick.
func (r *run) fire() {
	r.mu.Lock()
	// A fake clock's timer also sends on its channel, which nobody
	// reads: emptied here, or its next firing after the Reset below
	// would block the clock. The real clock's has none.
	select {
	case <-r.t.C():
	default:
	}
	if r.ended {
		r.mu.Unlock()
		return
	}
	if closed(r.a) {
		r.ended = true
		r.finishLocked()
		r.mu.Unlock()
		return
	}
	r.going = true
	r.mu.Unlock()

	sc, clk, s := r.sc, r.sc.m.clock, r.s
	sc.m.metrics.scheduledRuns.Inc()
	soft := sc.runOnce(r.ctx, r.a, s, &r.args, r.rc)
	prev, prevOnTick := r.next, r.onTick
	if soft {
		r.next, r.onTick = clk.Now().Add(s.RetryEvery), false
	} else {
		r.next, r.onTick = nextTick(clk.Now(), s.Every, r.off), true
	}
	if prevOnTick && r.onTick {
		if skipped := int(r.next.Sub(prev)/s.Every) - 1; skipped > 0 {
			sc.m.metrics.ticksSkipped.Add(skipped)
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.going = false
	if r.ended {
		r.finishLocked()
		return
	}
	r.t.Reset(r.next.Sub(clk.Now()))
}

// halt ends the runs once ctx has ended: at once if none is going, else
// when it ends.
func (r *run) halt() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = true
	if r.t != nil {
		r.t.Stop()
	}
	if !r.going {
		r.finishLocked()
	}
}

// finishLocked releases what the runs hold and tells that they ended,
// once.
func (r *run) finishLocked() {
	if r.finished {
		return
	}
	r.finished = true
	if r.t != nil {
		r.t.Stop()
	}
	if r.rc != nil {
		r.rc.close()
	}
	r.stopWatch()
	r.cancel()
	close(r.done)
	r.sc.wg.Done()
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// runOnce runs s on a and records the result in the status table. It
// reports whether the status is soft after it. *args are the args of the
// check with its timeout, made by the first run and kept for the next
// ones: a run is thousands a second under load, and the args change only
// with the schedule, which starts new runs (startLocked).
func (sc *scheduler) runOnce(ctx context.Context, a Agent, s state.Schedule, args *[]byte, rc *runCtx) (soft bool) {
	if *args == nil {
		b, err := WithTimeout(s.Args, s.Timeout)
		if err != nil {
			a.Log().Error("schedule args", "schedule", s.Name, "err", err)
			return false
		}
		*args = b
	}
	rctx := rc.begin(s.Timeout)
	doc, err := sc.m.dispatch(rctx, a, s.Check, s.Name, *args)
	timedOut := errors.Is(context.Cause(rctx), context.DeadlineExceeded) && ctx.Err() == nil
	rc.end()
	if err != nil && ctx.Err() == nil && !closed(a) {
		a.Log().Warn("scheduled check", "schedule", s.Name, "check", s.Check, "err", err)
	}
	if !doc.Status.Valid() {
		return false
	}
	if timedOut && !sc.heardSince(ctx, a, sc.m.clock.Now()) {
		return false
	}
	return sc.m.status.record(ctx, a.Name(), s, doc, sc.m.clock.Now())
}

// A runCtx is the context of the runs of one schedule on one agent, one
// at a time, which ends a run at its timeout on the real clock or when
// the context of the runs (parent) ends. It is one value for all the
// runs, with one timer rearmed for each, where context.WithTimeout, or
// WithCancelCause and a timer, allocates a context, a channel and a
// function for each: a run is thousands a second under load, and what it
// allocates is most of the collector's work. Its Done channel is made
// again only after a run it ended. A run's context ends with the cause
// context.DeadlineExceeded, as the agent's link tells a check that did
// not answer in time; it must not be kept past the run (Agent.Check), as
// the next run's is the same value.
type runCtx struct {
	parent context.Context
	// values are parent's without its cancellation, so that
	// context.Cause of a run is its Err: parent's cause is not the run's.
	values context.Context
	stop   func() bool // of the context.AfterFunc on parent

	mu      sync.Mutex
	t       *time.Timer
	at      time.Time     // the current run's deadline
	running bool          // a run is between begin and end
	done    chan struct{} // nil until asked for; closed when err is set
	err     error         // why the current run ended, nil while it goes on
}

// newRunCtx returns the context of runs whose own context is parent.
// Its close undoes it.
func newRunCtx(parent context.Context) *runCtx {
	rc := &runCtx{parent: parent, values: context.WithoutCancel(parent)}
	rc.stop = context.AfterFunc(parent, func() { rc.cancel(context.Canceled, time.Time{}) })
	return rc
}

// begin starts a run that ends timeout from now, and returns its context.
func (rc *runCtx) begin(timeout time.Duration) context.Context {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.running, rc.at = true, time.Now().Add(timeout)
	if rc.parent.Err() != nil {
		rc.cancelLocked(context.Canceled)
		return rc
	}
	if rc.t == nil {
		rc.t = time.AfterFunc(timeout, rc.expire)
	} else {
		rc.t.Reset(timeout)
	}
	return rc
}

// expire ends the current run if its deadline has passed: a timer that
// fired for a run that ended as it fired finds the next run's deadline
// ahead, or none.
func (rc *runCtx) expire() { rc.cancel(context.DeadlineExceeded, time.Now()) }

// cancel ends the current run with err, if its deadline is not after
// now (the zero time: whatever its deadline).
func (rc *runCtx) cancel(err error, now time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.running && rc.err == nil && (now.IsZero() || !now.Before(rc.at)) {
		rc.cancelLocked(err)
	}
}

func (rc *runCtx) cancelLocked(err error) {
	rc.err = err
	if rc.done == nil {
		rc.done = make(chan struct{})
	}
	close(rc.done)
}

// end ends the current run. A Done channel it did not close serves the
// next run.
func (rc *runCtx) end() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.t != nil {
		rc.t.Stop()
	}
	rc.running = false
	if rc.err != nil {
		rc.err, rc.done = nil, nil
	}
}

// close stops the timer and the watch on parent for good.
func (rc *runCtx) close() {
	rc.stop()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.t != nil {
		rc.t.Stop()
	}
}

// Deadline is parent's: a run's deadline is its own timer's business, as
// it was with the WithCancelCause context it replaces.
func (rc *runCtx) Deadline() (time.Time, bool) { return rc.parent.Deadline() }

func (rc *runCtx) Done() <-chan struct{} {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.done == nil {
		rc.done = make(chan struct{})
	}
	return rc.done
}

func (rc *runCtx) Err() error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.err
}

func (rc *runCtx) Value(key any) any { return rc.values.Value(key) }

// heardSince reports, for a run that timed out at since, whether the
// agent speaks at or after that: then it is alive, the check is what did
// not answer, and its status unknown is the check's. An agent silent
// since before is waited for, until it speaks (helen's pings ask an idle
// agent for a word well within DownAfter) or has been silent for
// DownAfter: then it is down (or its connection ended), which is one
// agent_down notification, where a result of each of its schedules, all
// unknown before it is declared down, would be a problem each. Its result
// stays in the history; the status is left as it was.
func (sc *scheduler) heardSince(ctx context.Context, a Agent, since time.Time) bool {
	clk := sc.m.clock
	downAfter := sc.m.status.downAfter
	for {
		silence := a.Silence()
		switch {
		case silence <= clk.Since(since):
			return true
		case silence >= downAfter:
			return false
		}
		t := clk.NewTimer(sweepEvery(downAfter))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-a.Done():
			t.Stop()
			return false
		case <-t.C():
		}
	}
}

// closed reports whether a's connection has ended.
func closed(a Agent) bool {
	select {
	case <-a.Done():
		return true
	default:
		return false
	}
}
