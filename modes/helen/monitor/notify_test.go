package monitor

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/modes/helen/monitor/notify"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// notifyWaiters are the waiters on the clock of a monitor that delivers,
// with one schedule on one agent: its tickers, the delivery workers' and
// the schedule's loop.
const notifyWaiters = tickers + 2

// hook is a webhook receiver over TLS on loopback that keeps what it was
// sent; down makes it answer 503.
type hook struct {
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	got  []notify.Notification
	keys []string
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if h.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		var n notify.Notification
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, n)
		h.keys = append(h.keys, r.Header.Get(notify.HeaderDelivery))
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// roots trusts the hook's certificate.
func (h *hook) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(h.srv.Certificate())
	return p
}

// kinds returns the kinds received, with the schedule when there is one.
func (h *hook) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, n := range h.got {
		s := string(n.Kind)
		if n.Schedule != "" {
			s += " " + n.Schedule + " " + n.Status
		}
		out = append(out, s)
	}
	return out
}

// waitKinds waits until the hook has received n notifications.
func (h *hook) waitKinds(t *testing.T, n int) []string {
	t.Helper()
	wait.Until(t, fmt.Sprintf("%d notifications received", n), waitFor, time.Millisecond, func() bool { return len(h.kinds()) >= n })
	return h.kinds()
}

// newNotifyHarness is a harness that delivers to hk through the route
// "ops", renotify its interval.
func newNotifyHarness(t *testing.T, hk *hook, renotify time.Duration, cfg Config) *harness {
	t.Helper()
	cfg.Notify = &NotifyConfig{RootCAs: hk.roots(), Jitter: func(d time.Duration) time.Duration { return d }}
	h := newHarness(t, cfg)
	route := state.Route{Name: "ops", Renotify: renotify,
		Receivers: []state.Receiver{{Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: hk.srv.URL}}}}
	if err := h.db.PutRoute(route); err != nil {
		t.Fatal(err)
	}
	return h
}

// run starts schedule "s" of check "c" every minute on a connected agent
// and steps the clock through n of its runs.
func (h *harness) runs(a *fakeAgent, n int) {
	h.t.Helper()
	h.settle(notifyWaiters)
	h.stepTo(h.tick(a.name, time.Minute), notifyWaiters)
	h.steps(n-1, time.Minute, notifyWaiters)
}

func script(ss ...result.Status) behavior {
	return behavior{Script: map[string][]result.Status{"c": ss}}
}

// A problem reaches the webhook once, with the delivery id as its
// idempotency key, and then its recovery; both are delivered in the store.
func TestNotifyProblemAndRecovery(t *testing.T) {
	hk := newHook(t)
	h := newNotifyHarness(t, hk, 0, Config{})
	a := h.connect("web-1", script(ok, crit, crit, ok))
	h.put(state.Schedule{Name: "s", Check: "c", Every: time.Minute})
	h.runs(a, 4)
	got := hk.waitKinds(t, 2)
	if want := []string{"problem s critical", "recovery s ok"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	ns, _, err := h.db.Notifications(state.NotificationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "both delivered", waitFor, time.Millisecond, func() bool {
		st, _ := h.db.OutboxStats()
		return st.Count[state.NotifyDelivered] == 2
	})
	hk.mu.Lock()
	defer hk.mu.Unlock()
	for i, n := range hk.got {
		// Newest first in the store.
		if id := ns[len(ns)-1-i].ID; hk.keys[i] != id || n.Delivery != id || n.Attempt != 1 {
			t.Errorf("notification %d: key %q, delivery %q, attempt %d; want %q, attempt 1", i, hk.keys[i], n.Delivery, n.Attempt, id)
		}
	}
}

// A silence keeps a problem untold, also across a restart made inside it:
// the silence, added while helen was stopped, is in force from the first
// evaluation.
func TestNotifySilenced(t *testing.T) {
	hk := newHook(t)
	h := newNotifyHarness(t, hk, 0, Config{})
	h.restart(func(db state.Store) {
		if _, err := db.AddSilence(state.Silence{Agents: "web-*", Created: epoch, End: epoch.Add(time.Hour), Comment: "maintenance"}); err != nil {
			t.Fatal(err)
		}
	})
	a := h.connect("web-1", script(ok, crit, crit))
	h.put(state.Schedule{Name: "s", Check: "c", Every: time.Minute})
	h.runs(a, 3)
	h.restart(nil)
	b := h.connect("web-1", script(crit, ok))
	h.runs(b, 2)
	if st, err := h.db.OutboxStats(); err != nil || st.Count[state.NotifyPending]+st.Count[state.NotifyDelivered] != 0 {
		t.Errorf("outbox %v, %v: want nothing", st, err)
	}
	if got := hk.kinds(); len(got) != 0 {
		t.Errorf("received %v during a silence", got)
	}
}

// A receiver down gets its notifications, in order and once each, when it
// comes back: the attempts are retried on the monitor's clock.
func TestNotifyReceiverBack(t *testing.T) {
	hk := newHook(t)
	hk.down.Store(true)
	h := newNotifyHarness(t, hk, 0, Config{})
	a := h.connect("web-1", script(ok, crit, ok, warn))
	h.put(state.Schedule{Name: "s", Check: "c", Every: time.Minute})
	h.runs(a, 4)
	wait.Until(t, "a failed attempt", waitFor, time.Millisecond, func() bool {
		st, _ := h.db.OutboxStats()
		return st.Count[state.NotifyRetrying] == 1
	})
	h.steps(30, time.Minute, notifyWaiters)
	hk.down.Store(false)
	h.steps(11, time.Minute, notifyWaiters)
	// The runs after the script's answer ok: the warning recovers too.
	got := hk.waitKinds(t, 4)
	if want := []string{"problem s critical", "recovery s ok", "problem s warning", "recovery s ok"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	ns, _, _ := h.db.Notifications(state.NotificationQuery{})
	if first := ns[len(ns)-1]; first.AttemptCount < 3 || first.State != state.NotifyDelivered {
		t.Errorf("first notification: %d attempts, %s", first.AttemptCount, first.State)
	}
}

// Flapping tells its start and its end, and nothing in between.
func TestNotifyFlapping(t *testing.T) {
	hk := newHook(t)
	h := newNotifyHarness(t, hk, 0, Config{Flapping: &Flapping{Start: 5, End: 5}})
	ss := []result.Status{ok, crit, ok, crit, ok}
	for range 25 {
		ss = append(ss, ok)
	}
	a := h.connect("web-1", script(ss...))
	h.put(state.Schedule{Name: "s", Check: "c", Every: time.Minute})
	h.runs(a, len(ss))
	got := hk.waitKinds(t, 2)
	if want := []string{"flapping_start s critical", "flapping_end s ok"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
}

// An alert told to an Alertmanager is pushed again while its problem
// lasts, with its end moved ahead, and no more once it has recovered.
func TestAlertmanagerRepushed(t *testing.T) {
	type push struct {
		ends   time.Time
		labels map[string]string
	}
	var mu sync.Mutex
	var pushes []push
	am := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			EndsAt time.Time         `json:"endsAt"`
		}
		if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil || r.URL.Path != "/api/v2/alerts" {
			http.Error(w, "bad push", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, a := range alerts {
			pushes = append(pushes, push{a.EndsAt, a.Labels})
		}
		mu.Unlock()
	}))
	t.Cleanup(am.Close)
	roots := x509.NewCertPool()
	roots.AddCert(am.Certificate())
	h := newHarness(t, Config{Notify: &NotifyConfig{RootCAs: roots, Jitter: func(d time.Duration) time.Duration { return d }}})
	if err := h.db.PutRoute(state.Route{Name: "am", Receivers: []state.Receiver{{Kind: state.KindAlertmanager, Alertmanager: &state.AlertmanagerReceiver{URL: am.URL}}}}); err != nil {
		t.Fatal(err)
	}
	firing := func() (n int, last time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pushes {
			if p.ends.After(h.clk.Now()) {
				n++
				last = p.ends
			}
		}
		return n, last
	}
	a := h.connect("web-1", script(ok, crit, crit, crit, crit, ok, ok, ok, ok))
	h.put(state.Schedule{Name: "s", Check: "c", Every: time.Minute})
	h.runs(a, 2)
	wait.Until(t, "the problem pushed", waitFor, time.Millisecond, func() bool { n, _ := firing(); return n >= 1 })
	_, first := firing()
	h.steps(3, time.Minute, notifyWaiters)
	wait.Until(t, "the alert pushed again, its end moved ahead", waitFor, time.Millisecond, func() bool {
		n, last := firing()
		return n >= 2 && last.After(first)
	})
	h.steps(1, time.Minute, notifyWaiters) // the recovery
	wait.Until(t, "the recovery pushed", waitFor, time.Millisecond, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(pushes) > 0 && !pushes[len(pushes)-1].ends.After(h.clk.Now())
	})
	mu.Lock()
	before := len(pushes)
	mu.Unlock()
	h.steps(3, time.Minute, notifyWaiters)
	mu.Lock()
	after := len(pushes)
	mu.Unlock()
	if after != before {
		t.Errorf("%d pushes after the recovery, want none", after-before)
	}
}

// An agent down is one agent_down notification and, when it is back, one
// agent_up, however many schedules it has: never one per schedule.
func TestNotifyAgentDownFolds(t *testing.T) {
	const grace = 3 * time.Minute
	hk := newHook(t)
	h := newNotifyHarness(t, hk, 0, Config{DownAfter: grace})
	a := h.connect("web-1", script(ok, ok))
	h.put(state.Schedule{Name: "s", Check: "c", Every: time.Minute})
	h.put(state.Schedule{Name: "t", Check: "c", Every: time.Minute})
	h.settle(notifyWaiters + 1) // a loop of each schedule
	h.steps(2, time.Minute, notifyWaiters+1)
	h.disconnect(a)
	h.settle(notifyWaiters) // the loops gone, the grace period's timer
	h.step(grace, notifyWaiters-1)
	got := hk.waitKinds(t, 1)
	if want := []string{"agent_down"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	h.connect("web-1", script(ok, ok, ok, ok))
	h.settle(notifyWaiters + 1)
	h.steps(2, time.Minute, notifyWaiters+1)
	got = hk.waitKinds(t, 2)
	if want := []string{"agent_down", "agent_up"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
}

// A problem that a silence kept untold and that is still there when the
// silence ends is told then, once; one that recovered under the silence
// is not told at all, and neither is its recovery. A silence that ends on
// recovery ends with the recovery of the problem it covers.
func TestNotifySilenceEnds(t *testing.T) {
	hk := newHook(t)
	h := newNotifyHarness(t, hk, 0, Config{})
	end := epoch.Add(30 * time.Minute)
	if _, err := h.db.AddSilence(state.Silence{Agents: "web-1", Schedules: "s", Created: epoch, End: end, Comment: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	resolve, err := h.db.AddSilence(state.Silence{Agents: "web-1", Schedules: "u", Created: epoch, End: epoch.Add(24 * time.Hour),
		Comment: "until fixed", ExpireOnResolve: true})
	if err != nil {
		t.Fatal(err)
	}
	still := []result.Status{ok}
	for range 60 {
		still = append(still, crit)
	}
	h.connect("web-1", behavior{Script: map[string][]result.Status{"c": still, "d": {ok, crit, crit, ok}}})
	h.put(state.Schedule{Name: "s", Check: "c", Every: time.Minute})
	h.put(state.Schedule{Name: "u", Check: "d", Every: time.Minute})
	h.settle(notifyWaiters + 1) // a loop of each schedule
	h.steps(20, time.Minute, notifyWaiters+1)
	if got := hk.kinds(); len(got) != 0 {
		t.Fatalf("received %v during the silences", got)
	}
	ss, err := h.db.Silences()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if s.ID == resolve.ID && s.Active(h.clk.Now()) {
			t.Errorf("silence %s still in force after the recovery it was to end with", s.ID)
		}
	}
	for h.clk.Now().Before(end.Add(5 * time.Minute)) {
		h.step(time.Minute, notifyWaiters+1)
	}
	hk.waitKinds(t, 1)
	h.steps(5, time.Minute, notifyWaiters+1)
	if got := hk.kinds(); !slices.Equal(got, []string{"problem s critical"}) {
		t.Fatalf("received %v after the silence ended, want the problem still there, once", got)
	}
}
