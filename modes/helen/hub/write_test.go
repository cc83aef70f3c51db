package hub

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/wire"
)

// tlsPair returns both ends of a mutual TLS connection on loopback,
// helen's and the agent's, with certificates of an in-memory CA.
func tlsPair(t *testing.T) (helen, agent net.Conn) {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("test helen", now)
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := ca.IssueServer([]string{"127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueClient("web-1", now)
	if err != nil {
		t.Fatal(err)
	}
	agentCert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		tc := tls.Server(c, pki.ServerConfig(ca, serverCert, []string{wire.ALPN}))
		if tc.Handshake() != nil {
			tc.Close()
			accepted <- nil
			return
		}
		accepted <- tc
	}()
	cfg, err := pki.ClientConfig(pki.Trust{CA: ca.Cert}, "127.0.0.1", &agentCert, []string{wire.ALPN})
	if err != nil {
		t.Fatal(err)
	}
	agent, err = tls.Dial("tcp", ln.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if helen = <-accepted; helen == nil {
		agent.Close()
		t.Fatal("helen's end of the handshake failed")
	}
	t.Cleanup(func() { helen.Close(); agent.Close() })
	return helen, agent
}

// heldConn is helen's end of a connection whose writes wait, while held,
// until let go; it counts the writes that returned.
type heldConn struct {
	net.Conn
	hold    atomic.Bool
	writing chan struct{} // gets a value when a held write starts
	gate    chan struct{} // a held write goes on when this is closed
	writes  atomic.Int64
}

func (c *heldConn) Write(b []byte) (int, error) {
	if c.hold.Load() {
		c.writing <- struct{}{}
		<-c.gate
	}
	defer c.writes.Add(1)
	return c.Conn.Write(b)
}

// testSession is a session on conn as serveSession makes one, with its
// writer not started: start starts it, and the test's end stops it.
func testSession(t *testing.T, conn net.Conn, writeTimeout time.Duration) (ss *Session, start func()) {
	ss = &Session{
		hub:  &Hub{cfg: Config{WriteTimeout: writeTimeout}},
		conn: conn,
		log:  slog.New(slog.DiscardHandler),
		name: "web-1",
		done: make(chan struct{}),
	}
	ss.w.init()
	var wg sync.WaitGroup
	t.Cleanup(func() { ss.close(); wg.Wait() })
	return ss, func() { wg.Go(ss.writeLoop) }
}

// readChecks reads n checks on the agent's end and returns their ids in
// the order they came.
func readChecks(t *testing.T, agent net.Conn, n int) []int32 {
	t.Helper()
	agent.SetReadDeadline(time.Now().Add(time.Minute))
	r := wire.NewReader(agent)
	ids := make([]int32, 0, n)
	for range n {
		m, err := r.Read()
		if err != nil {
			t.Fatalf("after %d checks: %v", len(ids), err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

func check(id int32) outMsg { return outMsg{m: wire.Check("c", id, nil)} }

// TestSessionWritesInOrder: what is sent before the writer starts waits
// for it and goes first; a check sent alone while no write is under way
// is written by its sender, and those sent meanwhile queue without
// waiting for it and go out after it, together, in the order they were
// sent, whichever of the sender and the writer then writes the next; a
// check sent with others outstanding goes to the writer.
func TestSessionWritesInOrder(t *testing.T) {
	helen, agent := tlsPair(t)
	hc := &heldConn{Conn: helen, writing: make(chan struct{}), gate: make(chan struct{})}
	ss, start := testSession(t, hc, time.Minute)
	ctx := t.Context()
	if err := ss.send(ctx, check(1), true); err != nil {
		t.Fatal(err)
	}
	if n := hc.writes.Load(); n != 0 {
		t.Fatalf("%d writes before the writer started, want none", n)
	}
	start()
	if got := readChecks(t, agent, 1); got[0] != 1 {
		t.Fatalf("first check %d, want 1", got[0])
	}
	wait.Until(t, "the writer to let go of the write", 10*time.Second, time.Millisecond, func() bool {
		ss.w.mu.Lock()
		defer ss.w.mu.Unlock()
		return !ss.w.writing
	})

	hc.hold.Store(true)
	direct := make(chan error, 1)
	go func() { direct <- ss.send(ctx, check(2), true) }()
	<-hc.writing // check 2's sender writes it, held
	hc.hold.Store(false)
	for id := int32(3); id <= 7; id++ {
		if err := ss.send(ctx, check(id), true); err != nil { // queued: returns at once
			t.Fatal(err)
		}
	}
	close(hc.gate)
	if err := <-direct; err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the queued checks written", 10*time.Second, time.Millisecond, func() bool { return hc.writes.Load() == 3 })
	// The writer may still hold the write, or have let go of it.
	if err := ss.send(ctx, check(8), true); err != nil {
		t.Fatal(err)
	}
	got := readChecks(t, agent, 7)
	for i, id := range got {
		if want := int32(i + 2); id != want {
			t.Fatalf("checks in the order %v, want 2 to 8", got)
		}
	}

	// A check sent with others outstanding goes to the writer, even when
	// no write is under way: its sender does not wait for the write.
	wait.Until(t, "the write let go of", 10*time.Second, time.Millisecond, func() bool {
		ss.w.mu.Lock()
		defer ss.w.mu.Unlock()
		return !ss.w.writing
	})
	hc.gate = make(chan struct{})
	hc.hold.Store(true)
	if err := ss.send(ctx, check(9), false); err != nil {
		t.Fatal(err)
	}
	<-hc.writing // the writer's write, held
	hc.hold.Store(false)
	close(hc.gate)
	if got := readChecks(t, agent, 1); got[0] != 9 {
		t.Fatalf("check %d, want 9", got[0])
	}

	// Many senders at once: each one's checks arrive in the order it sent
	// them, the direct writes and the writer's bursts taking turns.
	const senders, each = 8, 200
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				if err := ss.send(ctx, check(int32(1000*(s+1)+i)), i%2 == 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	next := make([]int32, senders)
	for _, id := range readChecks(t, agent, senders*each) {
		s, i := id/1000-1, id%1000
		if i != next[s] {
			t.Fatalf("sender %d: check %d came after %d", s, i, next[s]-1)
		}
		next[s]++
	}
	wg.Wait()
}

// TestSessionLastEndsWrites: the message that ends a session goes to the
// writer, which closes the connection once it is out; what is sent after
// it is refused.
func TestSessionLastEndsWrites(t *testing.T) {
	helen, agent := tlsPair(t)
	ss, start := testSession(t, helen, time.Minute)
	start()
	ctx := t.Context()
	if err := ss.send(ctx, check(1), true); err != nil {
		t.Fatal(err)
	}
	if err := ss.send(ctx, outMsg{m: wire.Error(wire.CodeShuttingDown), last: true}, false); err != nil {
		t.Fatal(err)
	}
	if err := ss.send(ctx, check(2), true); !errors.Is(err, errSessionClosed) {
		t.Errorf("send after the last message: %v, want errSessionClosed", err)
	}
	agent.SetReadDeadline(time.Now().Add(time.Minute))
	r := wire.NewReader(agent)
	for _, want := range []wire.Kind{wire.KindCheck, wire.KindError} {
		m, err := r.Read()
		if err != nil || m.Kind != want {
			t.Fatalf("read %v, %v; want %v", m.Kind, err, want)
		}
	}
	if m, err := r.Read(); !errors.Is(err, io.EOF) {
		t.Errorf("after the error: %v, %v; want the connection closed", m.Kind, err)
	}
	agent.Close() // helen's close waits for the agent's
	select {
	case <-ss.Done():
	case <-time.After(10 * time.Second):
		t.Error("the session did not end")
	}
}

// TestSessionDirectWriteDeadline: a sender that writes to an agent that
// does not read waits no longer than the write deadline, and the session
// ends.
func TestSessionDirectWriteDeadline(t *testing.T) {
	helen, _ := tlsPair(t)
	ss, start := testSession(t, helen, 200*time.Millisecond)
	start()
	big := make([]byte, wire.MaxBlob)
	for i := range 1000 {
		err := ss.send(t.Context(), outMsg{m: wire.Check("c", int32(i), big)}, true)
		if errors.Is(err, errSessionClosed) {
			select {
			case <-ss.Done():
			default:
				t.Error("the send failed, the session goes on")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("%d MiB written to an agent that does not read", 1000)
}
