package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/equus-monitoring/equus/internal/metricset"
)

// DefaultMaxHandshakes bounds the TLS handshakes of the agents' port that
// run at once. A mutual TLS handshake costs helen about a millisecond of
// CPU: when a fleet comes back together (helen restarted), thousands
// begin at once, and unbounded they all progress slowly, each waiting for
// the others, so that for seconds almost none completes and registers.
// Bounded, they complete at the rate the CPU allows, in the order their
// ClientHello came, from the first second. The bound is well above the
// cores, so that the round trips of agents far away keep no core idle.
const DefaultMaxHandshakes = 128

// errNoHandshakeSlot ends a handshake that waited its hello timeout for a
// slot.
var errNoHandshakeSlot = errors.New("helen: no TLS handshake slot within the hello timeout")

// handshakes admits the agents' port's TLS handshakes, at most cap(slots)
// at once. A connection takes its slot once its ClientHello has come, in
// GetConfigForClient, so that connections that send nothing hold none:
// only the handshake's own work waits. It waits for a slot as long as its
// hello timeout, on top of the time its ClientHello took; then the
// handshake has a hello timeout of its own.
type handshakes struct {
	slots   chan struct{}
	held    sync.Map      // of the net.Conn whose handshake holds a slot
	timeout time.Duration // of the handshake once it has its slot
	waiting *metrics.Gauge
	running *metrics.Gauge
}

func newHandshakes(max int, timeout time.Duration, set *metricset.Set) *handshakes {
	if max <= 0 {
		max = DefaultMaxHandshakes
	}
	hs := &handshakes{
		slots:   make(chan struct{}, max),
		timeout: timeout,
		waiting: set.Gauge("helen_tls_handshakes_waiting", "TLS handshakes on the agents' port waiting for a slot (their ClientHello came).", nil),
		running: set.Gauge("helen_tls_handshakes_running", "TLS handshakes on the agents' port running now, at most the bound of handshakes at once.", nil),
	}
	return hs
}

// serverConfig returns base with the admission in GetConfigForClient.
// The slot is the connection's: handshake gives it back.
func (hs *handshakes) serverConfig(base *tls.Config) *tls.Config {
	cfg := base.Clone()
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		hs.waiting.Inc()
		defer hs.waiting.Dec()
		wait := time.NewTimer(hs.timeout)
		defer wait.Stop()
		select {
		case hs.slots <- struct{}{}:
		case <-wait.C:
			return nil, errNoHandshakeSlot
		case <-hello.Context().Done():
			return nil, hello.Context().Err()
		}
		hs.running.Inc()
		hs.held.Store(hello.Conn, struct{}{})
		hello.Conn.SetDeadline(time.Now().Add(hs.timeout))
		return nil, nil
	}
	return cfg
}

// handshake runs c's server handshake under cfg (from serverConfig),
// within ctx, and gives its slot back once it is over.
func (hs *handshakes) handshake(ctx context.Context, c net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Server(c, cfg)
	err := tc.HandshakeContext(ctx)
	if _, held := hs.held.LoadAndDelete(c); held {
		<-hs.slots
		hs.running.Dec()
	}
	return tc, err
}
