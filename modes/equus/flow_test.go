package equus

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// watchSessions makes the agent of cfg hand each session it starts to the
// channel it returns.
func watchSessions(cfg *Config) <-chan *session {
	ch := make(chan *session, 8)
	cfg.onSession = func(s *session) { ch <- s }
	return ch
}

func nextSession(t *testing.T, ch <-chan *session) *session {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(waitFor):
		t.Fatal("no session started")
		return nil
	}
}

// TestBusyAgentAnswersPings fills every slot with checks that wait for a
// gate the test opens: pings are answered all the while, checks wait in
// the queue until slots free, and a check past the queue is answered at
// once that the agent is busy.
func TestBusyAgentAnswersPings(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	cfg.Concurrency = 2
	cfg.MaxQueuedChecks = 3
	cfg.MaxQueuedBytes = 1024
	a := startAgent(t, cfg)
	hc := h.accept()
	gate := filepath.Join(t.TempDir(), "gate")
	gateCheck := func(id int32) wire.Message {
		return wire.Check("gate", id, gateArgs(t, gate, fmt.Sprint("tag-", id)))
	}

	hc.send(gateCheck(1), gateCheck(2))
	poll(t, "both slots taken", func() bool {
		return a.log.contains("waiting for the gate: tag-1") && a.log.contains("waiting for the gate: tag-2")
	})
	// The queue takes three; the fourth, and any check with more args
	// than the queue has bytes left for, is answered at once.
	hc.send(gateCheck(3), gateCheck(4), gateCheck(5), gateCheck(6))
	if d := parseResult(t, hc.next(), 6, "gate"); d.Status != result.Unknown || !strings.HasPrefix(d.Message, "agent busy: 3 checks queued, 2 running") {
		t.Errorf("gate past the queue: %+v, want unknown, agent busy", d)
	}
	big, err := json.Marshal(map[string]string{"tag": strings.Repeat("x", 1024)})
	if err != nil {
		t.Fatal(err)
	}
	hc.send(wire.Check("fast", 7, big))
	if d := parseResult(t, hc.next(), 7, "fast"); d.Status != result.Unknown || !strings.HasPrefix(d.Message, "agent busy:") {
		t.Errorf("args past the queue's bytes: %+v, want unknown, agent busy", d)
	}
	for id := int32(10); id < 20; id++ {
		name := "equus.ping"
		if id%2 == 1 {
			name = "equus.info"
		}
		hc.send(wire.Check(name, id, nil))
		if d := parseResult(t, hc.next(), id, name); d.Status != result.OK {
			t.Errorf("%s while the slots are full: %+v", name, d)
		}
	}

	openGate(t, gate)
	seen := map[int32]bool{}
	for range 5 {
		m := hc.next()
		d := parseResult(t, m, m.ID, "gate")
		if m.ID < 1 || m.ID > 5 || seen[m.ID] {
			t.Fatalf("result %d: want each of 1 to 5 once", m.ID)
		}
		seen[m.ID] = true
		if want := fmt.Sprint("tag-", m.ID); d.Status != result.OK || d.Message != want {
			t.Errorf("gate %d: %+v, want ok %s", m.ID, d, want)
		}
	}
	hc.send(wire.Check("equus.ping", 20, nil))
	parseResult(t, hc.next(), 20, "equus.ping")
}

// hostileConn is helen's side of a session with a helen written to
// misbehave: after the hello it reads only when the test says.
type hostileConn struct {
	conn net.Conn
	br   *bufio.Reader
	w    *wire.Writer
}

// acceptHostile accepts one agent on ln over mutual TLS and reads its
// hello, nothing more.
func acceptHostile(t *testing.T, ln net.Listener, p *testPKI) *hostileConn {
	t.Helper()
	cfg := pki.ServerConfig(p.ca, p.server, []string{wire.ALPN})
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(waitFor))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Server(c, cfg)
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(waitFor))
	br := bufio.NewReader(conn)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatalf("hello: %v", err)
	}
	conn.SetReadDeadline(time.Time{})
	return &hostileConn{conn: conn, br: br, w: wire.NewWriter(conn)}
}

// socketBuffers returns the most bytes the kernel may buffer in one
// direction of a loopback TCP connection: the sender's send buffer and
// the receiver's receive buffer, at their largest.
func socketBuffers(t *testing.T) int {
	t.Helper()
	largest := func(path string, field int) int {
		b, err := os.ReadFile(path)
		if err != nil {
			return 64 << 20 // not Linux: more than any default
		}
		f := strings.Fields(string(b))
		n, err := strconv.Atoi(f[min(field, len(f)-1)])
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return n
	}
	rmem := max(largest("/proc/sys/net/ipv4/tcp_rmem", 2), largest("/proc/sys/net/core/rmem_max", 0))
	wmem := max(largest("/proc/sys/net/ipv4/tcp_wmem", 2), largest("/proc/sys/net/core/wmem_max", 0))
	return rmem + wmem
}

// TestHelenThatDoesNotRead is a helen that sends checks as fast as it can
// and reads nothing: the agent holds no more checks than its bounds let
// it, stops reading, so that helen's writes block, and answers every check
// exactly once when helen reads at last.
func TestHelenThatDoesNotRead(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t, p, &fakeHelen{ln: ln})
	cfg.Concurrency = 2
	cfg.MaxQueuedChecks = 8
	cfg.MaxUnsentResults = 64
	bound := int64(cfg.maxHeld())
	sessions := watchSessions(&cfg)
	a := startAgent(t, cfg)
	hc := acceptHostile(t, ln, p)
	s := nextSession(t, sessions)
	r := wire.NewReader(hc.br)

	// One equus.checks read as helen should: the size of its result.
	if err := hc.w.Write(wire.Check("equus.checks", 1, nil)); err != nil {
		t.Fatal(err)
	}
	if err := hc.w.Flush(); err != nil {
		t.Fatal(err)
	}
	m, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	resultBytes := int(resultSize(m))

	// Enough results to fill the kernel's buffers between the agent and
	// helen, and the agent's bound; then enough checks, padded, to fill
	// the buffers the other way and the agent's bound again: helen cannot
	// send them all unless the agent reads on.
	buffers := socketBuffers(t)
	var checks []wire.Message
	for id := int32(2); len(checks) < (buffers+1<<20)/resultBytes+int(bound); id++ {
		name := "equus.checks"
		if id%10 == 0 {
			name = "fast" // Lua: queued, or answered busy
		}
		checks = append(checks, wire.Check(name, id, nil))
	}
	pad, err := json.Marshal(map[string]string{"pad": strings.Repeat("x", 64<<10)})
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < (buffers+1<<20)/len(pad)+int(bound); n++ {
		checks = append(checks, wire.Check("equus.ping", int32(len(checks)+2), pad))
	}
	t.Logf("kernel buffers %d bytes, %d-byte results: sending %d checks", buffers, resultBytes, len(checks))

	var sent atomic.Int64
	sendDone := make(chan error, 1)
	go func() {
		for _, m := range checks {
			if err := hc.w.Write(m); err != nil {
				sendDone <- err
				return
			}
			sent.Add(1)
		}
		sendDone <- hc.w.Flush()
	}()
	senderDone := func() bool { return len(sendDone) > 0 }
	poll(t, "the agent to stop reading, or helen to send every check", func() bool {
		return s.stalls.Load() > 0 || senderDone()
	})
	if senderDone() {
		t.Fatalf("helen sent all %d checks and read no result: the agent never stopped reading (held %d at most)", len(checks), s.peak.Load())
	}
	// The stall is counted before its warning is logged: wait for it.
	poll(t, "a warning that helen does not read", func() bool {
		return a.log.contains(`level=WARN msg="helen is not reading results: reading no more checks until it does"`)
	})
	if peak := s.peak.Load(); peak > bound || peak < int64(cfg.MaxUnsentResults) {
		t.Errorf("the agent held at most %d checks, want %d to %d", peak, cfg.MaxUnsentResults, bound)
	}
	t.Logf("agent stopped reading: %d checks sent, %d held", sent.Load(), s.held.Load())

	// Helen reads at last: every check gets one result.
	seen := make(map[int32]bool, len(checks))
	for len(seen) < len(checks) {
		m, err := r.Read()
		if err != nil {
			t.Fatalf("after %d results: %v", len(seen), err)
		}
		want := checks[m.ID-2]
		if m.Kind != wire.KindResult || m.Name != want.Name || seen[m.ID] {
			t.Fatalf("got %s %d %s (seen before: %v), want each check's result once", m.Kind, m.ID, m.Name, seen[m.ID])
		}
		seen[m.ID] = true
		var d result.Doc
		if err := json.Unmarshal(m.Blob, &d); err != nil {
			t.Fatalf("result %d: %v", m.ID, err)
		}
		if d.Status != result.OK && !(m.Name == "fast" && strings.HasPrefix(d.Message, "agent busy:")) {
			t.Fatalf("result %d %s: %+v", m.ID, m.Name, d)
		}
	}
	if err := <-sendDone; err != nil {
		t.Fatal(err)
	}
	if peak := s.peak.Load(); peak > bound {
		t.Errorf("the agent held %d checks, past its bound %d", peak, bound)
	}
	// Nothing more is owed: the next result is the ping's.
	if err := hc.w.Write(wire.Check("equus.ping", 1, nil)); err != nil {
		t.Fatal(err)
	}
	if err := hc.w.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := r.Read(); err != nil || m.ID != 1 || m.Name != "equus.ping" {
		t.Fatalf("after the last result: %s %d %s, %v; want the ping's", m.Kind, m.ID, m.Name, err)
	}
	poll(t, "the agent to hold nothing", func() bool { return s.held.Load() == 0 })
}

// TestShutdownAnswersQueuedChecks stops the agent while a check runs past
// the drain time and another waits for its slot: helen gets a result for
// both before the connection closes.
func TestShutdownAnswersQueuedChecks(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	cfg.Concurrency = 1
	// The gate stays closed past the drain time; the last half of it is
	// for the cancelled check to answer and its result to be written.
	cfg.Drain = 500 * time.Millisecond
	a := startAgent(t, cfg)
	hc := h.accept()
	gate := filepath.Join(t.TempDir(), "gate")
	hc.send(wire.Check("gate", 1, gateArgs(t, gate, "running")))
	poll(t, "the slot taken", func() bool { return a.log.contains("waiting for the gate: running") })
	hc.send(wire.Check("gate", 2, gateArgs(t, gate, "queued")), wire.Check("equus.ping", 3, nil))
	parseResult(t, hc.next(), 3, "equus.ping") // so the queued check was read
	a.cancel()
	got := map[int32]result.Doc{}
	for range 2 {
		m := hc.next()
		got[m.ID] = parseResult(t, m, m.ID, "gate")
	}
	if d := got[1]; d.Status != result.Unknown {
		t.Errorf("running check cancelled: %+v, want unknown", d)
	}
	if d := got[2]; d.Status != result.Unknown || d.Message != "gate not run: equus is shutting down" {
		t.Errorf("queued check: %+v, want unknown, not run", d)
	}
	hc.waitClosed()
	if err := a.wait(t); err != nil {
		t.Errorf("Run = %v", err)
	}
}
