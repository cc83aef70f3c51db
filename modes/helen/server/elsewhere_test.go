package server

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/equus-monitoring/equus/modes/equus"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// otherHelen is another helen of h's cluster as an agent sees it: the
// agents' port over TLS with a server certificate of h's CA, requiring an
// agent's certificate; it hands the name of each agent that said hello
// to hellos, and holds the connection until the test ends.
type otherHelen struct {
	ln     net.Listener
	hellos chan string
	wg     sync.WaitGroup
}

func startOtherHelen(t *testing.T, h *testHelen) *otherHelen {
	t.Helper()
	cert, err := h.srv.CA().IssueServer([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := pki.ServerConfig(h.srv.CA(), cert, []string{wire.ALPN})
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := &otherHelen{ln: ln, hellos: make(chan string, 16)}
	var mu sync.Mutex
	var conns []net.Conn
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				tc := c.(*tls.Conn)
				tc.SetDeadline(time.Now().Add(waitFor))
				line, err := bufio.NewReader(tc).ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "hello ") {
					return
				}
				o.hellos <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		o.wg.Wait()
	})
	return o
}

// TestSentElsewhere: a helen at its bound of sessions tells the agent
// that says hello past it try_elsewhere, naming the other helens of its
// cluster, and records nothing of it; the agent, a real one whose backoff
// is an hour and which was given this helen alone, says hello to the
// other helen at once. The agent already connected stays, and one that
// reconnects while its session is open is taken: it replaces its own.
func TestSentElsewhere(t *testing.T) {
	var other *otherHelen
	h := startHelen(t, Config{MaxSessions: 1, Helens: func() []string { return []string{other.ln.Addr().String()} }})
	other = startOtherHelen(t, h)
	first := startRealAgent(t, h, clocktesting.NewFakeClock(time.Now()), "web-1")

	secret, _, err := h.srv.DB().CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour, Agent: "web-2"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	second := runAgent(t, equus.Config{
		Version: "1.0.0", Helens: []string{h.addr()}, CAPin: h.srv.CA().Pin(), Token: secret, Name: "web-2",
		DataDir: t.TempDir(), BackoffMin: time.Hour, BackoffMax: time.Hour,
	})
	select {
	case name := <-other.hellos:
		if name != "web-2" {
			t.Errorf("the other helen got the hello of %s, want web-2", name)
		}
	case <-time.After(waitFor):
		t.Fatal("the agent sent elsewhere did not say hello to the other helen")
	}
	if !strings.Contains(second.logs.String(), "try_elsewhere "+other.ln.Addr().String()) {
		t.Error("the agent's log does not show the helen it was sent to")
	}
	if a, err := h.srv.DB().Agent("web-2"); err == nil && a.Connected {
		t.Errorf("web-2 recorded connected: %+v", a)
	}
	if _, ok := h.srv.hub.Session("web-1"); !ok || len(h.srv.hub.Sessions()) != 1 {
		t.Errorf("sessions %d, want web-1's alone", len(h.srv.hub.Sessions()))
	}

	// web-1 connects again while its session is open (a renewal, a link
	// that died): the new session replaces its own, past the bound.
	cert, err := tls.LoadX509KeyPair(first.certFile(), first.keyFile())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientConfig(pki.Trust{CA: h.srv.CA().Cert}, "127.0.0.1", &cert, []string{wire.ALPN})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", h.addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitFor))
	w := wire.NewWriter(c)
	if err := w.Write(wire.Hello("1.0.0")); err != nil || w.Flush() != nil {
		t.Fatalf("hello: %v", err)
	}
	m, err := wire.NewReader(c).Read()
	if err != nil || m.Kind != wire.KindCheck || m.Name != wire.InfoCheck {
		t.Errorf("web-1 again: %+v, %v; want its session's equus.info", m, err)
	}
}
