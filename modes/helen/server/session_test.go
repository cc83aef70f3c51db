package server

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

func TestInfoFirstAndRunStored(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	if first := a.FirstCheck(); first.ID != 1 {
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
	for _, m := range a.Checks() {
		if m.Name == "disk" {
			sent = m
		}
	}
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
	a.Ready()
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
	a.Ready()

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
	poll(t, "the slow check to reach the agent", func() bool { return a.CountChecks("slow") == 1 })
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
	a.Ready()
	poll(t, "equus.info answered", func() bool {
		return a.Outstanding() == 0
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
	if len(a.DupIDs()) > 0 {
		t.Errorf("ids sent while still outstanding: %v", a.DupIDs())
	}
	if a.MaxOutstanding() != n {
		t.Errorf("at most %d checks were outstanding at once, want %d", a.MaxOutstanding(), n)
	}
	rs, err := h.srv.DB().History("web-1", "busy", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) != n {
		t.Errorf("history holds %d results (%v), want %d", len(rs), err, n)
	}
}

func TestUnknownResultDropped(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{Silent: map[string]bool{"hang": true}})
	a.Ready()
	a.Send(wire.Result(999, "load", []byte(`{"status":"ok","message":"stray"}`)))
	if doc := runCheck(t, h, "web-1", "load", ""); doc.Status != result.OK {
		t.Fatalf("run after a stray result: %+v", doc)
	}

	// A result with the id of an outstanding check but another name is
	// dropped too: the check gets no answer.
	go func() {
		poll(t, "the check to reach the agent", func() bool { return a.CountChecks("hang") == 1 })
		id := a.Checks()[len(a.Checks())-1].ID
		a.Send(wire.Result(id, "other", []byte(`{"status":"ok"}`)))
	}()
	doc, err := h.srv.Run(context.Background(), "web-1", "hang", nil, 500*time.Millisecond)
	if err != nil || doc.Status != result.Unknown {
		t.Fatalf("check answered under another name: %+v %v, want unknown", doc, err)
	}

	if doc := runCheck(t, h, "web-1", "load", ""); doc.Status != result.OK {
		t.Fatalf("run after stray results: %+v", doc)
	}
	if a.Closed() {
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
	a.Ready()
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
	a.Ready()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		poll(t, "the check to reach the agent", func() bool { return a.CountChecks("hang") == 1 })
		cancel()
	}()
	if _, err := h.srv.Run(ctx, "web-1", "hang", nil, waitFor); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with its context canceled: %v", err)
	}
}

func TestSameNameReplacesSession(t *testing.T) {
	h := startHelen(t, Config{})
	first := startAgent(t, h, "web-1", behavior{})
	first.Ready()
	second := startAgent(t, h, "web-1", behavior{})
	second.Ready()
	if _, err := first.WaitClosed(); err == nil {
		t.Fatal("first connection ended without an error")
	}
	if doc := runCheck(t, h, "web-1", "load", ""); doc.Status != result.OK {
		t.Fatalf("run: %+v", doc)
	}
	if first.CountChecks("load") != 0 || second.CountChecks("load") != 1 {
		t.Fatalf("load went to the old connection (%d) rather than the new (%d)", first.CountChecks("load"), second.CountChecks("load"))
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
	a.Ready()
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
	a.Close()
	poll(t, "the agent to be marked disconnected", func() bool { return !connected() })
	poll(t, "the session to end", func() bool { _, ok := h.srv.hub.Session("web-1"); return !ok })
	if _, err := h.srv.Run(context.Background(), "web-1", "load", nil, time.Second); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("run on a disconnected agent: %v", err)
	}
}

func TestRunSessionClosed(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{Silent: map[string]bool{"hang": true}})
	a.Ready()
	go func() {
		poll(t, "the check to reach the agent", func() bool { return a.CountChecks("hang") == 1 })
		a.Close()
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
	rc.C.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := rc.C.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("helen spoke before hello: %d bytes, %v", n, err)
	}
	rc.C.SetDeadline(time.Now().Add(waitFor))
	// Revoked in the store alone: no session to close yet.
	if err := h.srv.DB().Revoke("late-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	rc.Write("hello 1 1.0.0\n")
	rc.ExpectClosedWith(wire.CodeNotAuthorized)
	if _, ok := h.srv.hub.Session("late-1"); ok {
		t.Error("a revoked agent has a session")
	}
}
