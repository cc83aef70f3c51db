package helen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// runCheck is srv.Run with a test's context and a generous timeout.
func runCheck(t testing.TB, h *testHelen, agent, check, args string) result.Doc {
	t.Helper()
	doc, err := h.srv.Run(context.Background(), agent, check, []byte(args), waitFor)
	if err != nil {
		t.Fatalf("run %s on %s: %v", check, agent, err)
	}
	return doc
}

func TestInfoFirstAndRunStored(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.ready()
	if first := a.firstCheck(); first.ID != 1 {
		t.Errorf("equus.info has id %d, want 1", first.ID)
	}
	// helen keeps the answer to equus.info as well.
	poll(t, "equus.info in history", func() bool {
		rs, err := h.srv.DB().History("web-1", "equus.info", 1, time.Time{}, time.Time{})
		return err == nil && len(rs) == 1
	})

	doc := runCheck(t, h, "web-1", "disk", `{"status":"warning","tag":"root"}`)
	if doc.Status != result.Warning || doc.Message != "disk root" {
		t.Fatalf("run: got %+v, want warning \"disk root\"", doc)
	}
	rs, err := h.srv.DB().History("web-1", "disk", 0, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Status != "warning" || rs[0].Message != "disk root" {
		t.Fatalf("history right after Run: %+v", rs)
	}
	// The args helen sent carry the time the agent has, under the wait.
	var sent wire.Message
	a.mu.Lock()
	for _, m := range a.checks {
		if m.Name == "disk" {
			sent = m
		}
	}
	a.mu.Unlock()
	if want := `"_timeout_ms":9000`; !strings.Contains(string(sent.Blob), want) {
		t.Errorf("args sent %s, want them to hold %s", sent.Blob, want)
	}

	agents, err := h.srv.DB().Agents()
	if err != nil {
		t.Fatal(err)
	}
	if len(agents) != 1 || !agents[0].Connected || agents[0].Version != "1.0.0" || agents[0].Fingerprint == "" {
		t.Fatalf("agents: %+v", agents)
	}
}

func TestRunErrors(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.ready()
	tests := []struct {
		name, agent, check, args string
		notConnected             bool
	}{
		{"unknown-agent", "nobody", "load", "", true},
		{"bad-check-name", "web-1", "two words", "", false},
		{"args-not-object", "web-1", "load", `[1,2]`, false},
		{"args-not-json", "web-1", "load", `{`, false},
		{"args-too-large", "web-1", "load", `{"x":"` + strings.Repeat("x", wire.MaxBlob) + `"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.srv.Run(context.Background(), tt.agent, tt.check, []byte(tt.args), time.Second)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, ErrNotConnected); got != tt.notConnected {
				t.Fatalf("errors.Is(%v, ErrNotConnected) = %v", err, got)
			}
		})
	}
}

func TestResultsOutOfOrder(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{Delay: map[string]time.Duration{"slow": 500 * time.Millisecond}})
	a.ready()

	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	runOne := func(check string) {
		defer wg.Done()
		doc := runCheck(t, h, "web-1", check, `{"tag":"`+check+`"}`)
		if doc.Message != check+" "+check {
			t.Errorf("%s got the result %q", check, doc.Message)
		}
		mu.Lock()
		order = append(order, check)
		mu.Unlock()
	}
	wg.Add(1)
	go runOne("slow")
	poll(t, "the slow check to reach the agent", func() bool { return a.countChecks("slow") == 1 })
	wg.Add(1)
	go runOne("fast")
	wg.Wait()
	if fmt.Sprint(order) != "[fast slow]" {
		t.Fatalf("results came back in the order %v, want [fast slow]", order)
	}
}

func TestConcurrentRuns(t *testing.T) {
	const n = 64
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{Delay: map[string]time.Duration{"busy": 200 * time.Millisecond}})
	a.ready()
	poll(t, "equus.info answered", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.outstanding) == 0
	})

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tag := fmt.Sprint("n", i)
			doc, err := h.srv.Run(context.Background(), "web-1", "busy", []byte(`{"tag":"`+tag+`"}`), waitFor)
			switch {
			case err != nil:
				errs <- err
			case doc.Status != result.OK || doc.Message != "busy "+tag:
				errs <- fmt.Errorf("run %s got %+v", tag, doc)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.dupIDs) > 0 {
		t.Errorf("ids sent while still outstanding: %v", a.dupIDs)
	}
	if a.maxOutstanding != n {
		t.Errorf("at most %d checks were outstanding at once, want %d", a.maxOutstanding, n)
	}
	rs, err := h.srv.DB().History("web-1", "busy", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) != n {
		t.Errorf("history holds %d results (%v), want %d", len(rs), err, n)
	}
}

func TestUnknownResultDropped(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{Silent: map[string]bool{"hang": true}})
	a.ready()
	a.send(wire.Result(999, "load", []byte(`{"status":"ok","message":"stray"}`)))
	if doc := runCheck(t, h, "web-1", "load", ""); doc.Status != result.OK {
		t.Fatalf("run after a stray result: %+v", doc)
	}

	// A result with the id of an outstanding check but another name is
	// dropped too: the check gets no answer.
	go func() {
		poll(t, "the check to reach the agent", func() bool { return a.countChecks("hang") == 1 })
		a.mu.Lock()
		id := a.checks[len(a.checks)-1].ID
		a.mu.Unlock()
		a.send(wire.Result(id, "other", []byte(`{"status":"ok"}`)))
	}()
	doc, err := h.srv.Run(context.Background(), "web-1", "hang", nil, 500*time.Millisecond)
	if err != nil || doc.Status != result.Unknown {
		t.Fatalf("check answered under another name: %+v %v, want unknown", doc, err)
	}

	if doc := runCheck(t, h, "web-1", "load", ""); doc.Status != result.OK {
		t.Fatalf("run after stray results: %+v", doc)
	}
	if a.closed() {
		t.Fatal("helen closed the connection over a stray result")
	}
	rs, err := h.srv.DB().History("web-1", "load", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) != 2 {
		t.Fatalf("history: %v %+v, want the two runs only", err, rs)
	}
}

func TestRunTimeout(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{Silent: map[string]bool{"hang": true}})
	a.ready()
	start := time.Now()
	doc, err := h.srv.Run(context.Background(), "web-1", "hang", nil, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 5*time.Second {
		t.Errorf("Run took %s with a timeout of 200ms", took)
	}
	if doc.Status != result.Unknown {
		t.Fatalf("got %+v, want status unknown", doc)
	}
	rs, err := h.srv.DB().History("web-1", "hang", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) != 1 || rs[0].Status != "unknown" {
		t.Fatalf("history: %v %+v", err, rs)
	}
	// The session is still good.
	if doc := runCheck(t, h, "web-1", "load", ""); doc.Status != result.OK {
		t.Fatalf("run after a timeout: %+v", doc)
	}
}

func TestRunCanceled(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{Silent: map[string]bool{"hang": true}})
	a.ready()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		poll(t, "the check to reach the agent", func() bool { return a.countChecks("hang") == 1 })
		cancel()
	}()
	if _, err := h.srv.Run(ctx, "web-1", "hang", nil, waitFor); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with its context canceled: %v", err)
	}
}

func TestSameNameReplacesSession(t *testing.T) {
	h := startHelen(t, Config{})
	first := startAgent(t, h, "web-1", behavior{})
	first.ready()
	second := startAgent(t, h, "web-1", behavior{})
	second.ready()
	if _, err := first.waitClosed(); err == nil {
		t.Fatal("first connection ended without an error")
	}
	if doc := runCheck(t, h, "web-1", "load", ""); doc.Status != result.OK {
		t.Fatalf("run: %+v", doc)
	}
	if first.countChecks("load") != 0 || second.countChecks("load") != 1 {
		t.Fatalf("load went to the old connection (%d) rather than the new (%d)", first.countChecks("load"), second.countChecks("load"))
	}
	// The old session's end does not mark the agent disconnected.
	agent, err := h.srv.DB().Agent("web-1")
	if err != nil || !agent.Connected {
		t.Fatalf("agent after reconnection: %+v %v", agent, err)
	}
}

func TestDisconnectRecorded(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.ready()
	connected := func() bool {
		agents, err := h.srv.DB().Agents()
		if err != nil {
			t.Fatal(err)
		}
		for _, ag := range agents {
			if ag.Name == "web-1" {
				return ag.Connected
			}
		}
		return false
	}
	if !connected() {
		t.Fatal("agent not marked connected")
	}
	a.close()
	poll(t, "the agent to be marked disconnected", func() bool { return !connected() })
	poll(t, "the session to end", func() bool { _, ok := h.srv.hub.Session("web-1"); return !ok })
	if _, err := h.srv.Run(context.Background(), "web-1", "load", nil, time.Second); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("run on a disconnected agent: %v", err)
	}
}

func TestRunSessionClosed(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{Silent: map[string]bool{"hang": true}})
	a.ready()
	go func() {
		poll(t, "the check to reach the agent", func() bool { return a.countChecks("hang") == 1 })
		a.close()
	}()
	_, err := h.srv.Run(context.Background(), "web-1", "hang", nil, waitFor)
	if err == nil || errors.Is(err, ErrNotConnected) {
		t.Fatalf("Run on a session that closed under it: %v", err)
	}
	if rs, _ := h.srv.DB().History("web-1", "hang", 0, time.Time{}, time.Time{}); len(rs) != 0 {
		t.Fatalf("a check with no answer on a closed session was stored: %+v", rs)
	}
}

// TestRevokedBeforeHello checks that an agent revoked after helen looked
// at its certificate but before its hello is refused, not served.
func TestRevokedBeforeHello(t *testing.T) {
	h := startHelen(t, Config{})
	rc := dialRaw(t, h, agentCert(t, h.srv, "late-1"), []string{wire.ALPN})
	// Nothing to poll: give helen a moment to finish the handshake and
	// pass the revocation check, which it makes before reading hello.
	rc.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := rc.c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("helen spoke before hello: %d bytes, %v", n, err)
	}
	rc.c.SetDeadline(time.Now().Add(waitFor))
	// Revoked in the store alone: no session to close yet.
	if err := h.srv.DB().Revoke("late-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	rc.write("hello 1 1.0.0\n")
	rc.expectClosedWith(wire.CodeNotAuthorized)
	if _, ok := h.srv.hub.Session("late-1"); ok {
		t.Error("a revoked agent has a session")
	}
}
