package monitor

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/modes/helen/monitor/notify"
	"github.com/equus-monitoring/equus/state"
)

// holdHook is a webhook receiver over TLS on loopback that counts the
// requests of each delivery as they arrive, and holds the first of agent
// held until release is closed or the request's context ends.
type holdHook struct {
	srv     *httptest.Server
	held    string
	holding chan struct{} // closed once that request is held
	release chan struct{}

	mu      sync.Mutex
	arrived map[string]int // by delivery
	agents  map[string]int // by agent
	once    sync.Once
}

func newHoldHook(t *testing.T, held string) *holdHook {
	hk := &holdHook{held: held, holding: make(chan struct{}), release: make(chan struct{}), arrived: map[string]int{}, agents: map[string]int{}}
	hk.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var n notify.Notification
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		hk.mu.Lock()
		hk.arrived[r.Header.Get(notify.HeaderDelivery)]++
		hk.agents[n.Agent]++
		first := n.Agent == hk.held && hk.agents[n.Agent] == 1
		hk.mu.Unlock()
		if !first {
			return
		}
		hk.once.Do(func() { close(hk.holding) })
		select {
		case <-hk.release:
		case <-r.Context().Done():
			http.Error(w, "cut short", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(hk.srv.Close)
	return hk
}

func (hk *holdHook) count(m map[string]int, k string) int {
	hk.mu.Lock()
	defer hk.mu.Unlock()
	return m[k]
}

func (hk *holdHook) waitHolding(t *testing.T) {
	t.Helper()
	select {
	case <-hk.holding:
	case <-time.After(waitFor):
		t.Fatal("timed out waiting for the first notification")
	}
}

// holdHarness is a harness that delivers to hk through the route "ops"
// with two workers, and an agent web-1 whose schedule "s" has gone
// critical, its problem sent and held by hk.
func holdHarness(t *testing.T, hk *holdHook) *harness {
	t.Helper()
	h := newHarness(t, Config{Notify: &NotifyConfig{Workers: 2, RootCAs: rootsOf(hk.srv), Jitter: func(d time.Duration) time.Duration { return d }}})
	route := state.Route{Name: "ops", Receivers: []state.Receiver{{Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: hk.srv.URL}}}}
	if err := h.db.PutRoute(route); err != nil {
		t.Fatal(err)
	}
	a := h.connect("web-1", script(ok, crit))
	h.put(state.Schedule{Name: "s", Check: "c", Every: time.Minute})
	h.runs(a, 2)
	hk.waitHolding(t)
	return h
}

func rootsOf(srv *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}

// A notification being sent is not handed out again when the monitor's
// clock jumps an hour meanwhile: its worker's claim on its group holds
// until the attempt is recorded. The second worker, free, sends a later
// notification of another group; had the first been handed out again, it
// would be busy sending that instead.
func TestNotifyClockJumpMidSend(t *testing.T) {
	hk := newHoldHook(t, "web-1")
	h := holdHarness(t, hk)
	ns, _, err := h.db.Notifications(state.NotificationQuery{})
	if err != nil || len(ns) != 1 {
		t.Fatalf("notifications %v, %v: want the problem", ns, err)
	}
	first := ns[0].ID
	h.step(time.Hour, notifyWaiters) // web-1 recovers meanwhile: queued behind its problem
	sample := notify.Sample(notify.Problem)
	sample.Agent = "web-2"
	doc, err := json.Marshal(sample)
	if err != nil {
		t.Fatal(err)
	}
	other := state.EventNotifications{Notify: []state.Outgoing{{Route: "ops", Doc: doc, Agent: "web-2", Schedule: "s", Created: h.clk.Now()}}}
	if err := h.db.AddEventsWithNotifications(other); err != nil {
		t.Fatal(err)
	}
	h.step(deliverEvery, notifyWaiters)
	wait.Until(t, "the other group's notification received", waitFor, time.Millisecond, func() bool {
		return hk.count(hk.agents, "web-2") == 1
	})
	if n := hk.count(hk.arrived, first); n != 1 {
		t.Errorf("the notification in flight was sent %d times, want once", n)
	}
	close(hk.release)
	wait.Until(t, "all three delivered", waitFor, time.Millisecond, func() bool {
		st, _ := h.db.OutboxStats()
		return st.Count[state.NotifyDelivered] == 3
	})
	if n := hk.count(hk.arrived, first); n != 1 {
		t.Errorf("the problem was sent %d times, want once", n)
	}
}

// A notification being sent when helen stops is sent again after the
// restart (its claim is gone with the process), and recorded delivered
// once.
func TestNotifyInFlightAtStopSentAgain(t *testing.T) {
	hk := newHoldHook(t, "web-1")
	h := holdHarness(t, hk)
	ns, _, err := h.db.Notifications(state.NotificationQuery{})
	if err != nil || len(ns) != 1 {
		t.Fatalf("notifications %v, %v: want the problem", ns, err)
	}
	h.restart(nil)
	wait.Until(t, "the problem sent again", waitFor, time.Millisecond, func() bool {
		st, _ := h.db.OutboxStats()
		return st.Count[state.NotifyDelivered] == 1
	})
	if n := hk.count(hk.arrived, ns[0].ID); n != 2 {
		t.Errorf("sent %d times, want twice (cut short by the stop, then after the restart)", n)
	}
	n, err := h.db.Notification(ns[0].ID)
	if err != nil || n.AttemptCount != 1 {
		t.Errorf("after the restart: %d attempts recorded, %v; want the one that went through", n.AttemptCount, err)
	}
}
