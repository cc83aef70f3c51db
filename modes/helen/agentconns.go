package helen

import (
	"net"
	"sync"
)

// maxConnsPerAgent bounds the connections open at once with one agent
// name's valid certificate, wire sessions and HTTPS together: an agent
// needs one session and, now and then, an HTTPS connection or two (its
// update, the check bundle, a renewal), and a reconnecting one a second
// session until the first is closed.
const maxConnsPerAgent = 8

// agentConns counts the connections of each agent name, from the TLS
// handshake that showed its valid certificate until the connection is
// closed. It gives an agent's key the bound that an admission gives the
// clients without one: the admission stops counting a connection when its
// certificate is valid. The names are those of certificates helen issued
// and that pass its store's check, so the map holds at most the agents
// enrolled, and only those with a connection open.
type agentConns struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newAgentConns(max int) *agentConns {
	return &agentConns{max: max, n: map[string]int{}}
}

// acquire counts a connection of name, or reports false when name has max
// open already. release, once, gives the place back.
func (a *agentConns) acquire(name string) (release func(), ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n[name] >= a.max {
		return nil, false
	}
	a.n[name]++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.n[name]--; a.n[name] == 0 {
				delete(a.n, name)
			}
		})
	}, true
}

// count returns how many connections of name are counted.
func (a *agentConns) count(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[name]
}

// admitAgent moves c, whose handshake showed the valid certificate of
// agent name, from the admission's count to name's, or reports false
// when name has all its connections open already: the caller closes c,
// which the admission then stops counting.
func (s *Server) admitAgent(c net.Conn, name string) bool {
	release, ok := s.agentConns.acquire(name)
	if !ok {
		s.metrics.connsRefused.WithLabelValues("agents", "per_agent").Inc()
		s.plog.For(name).Warn("connection refused: the agent has too many connections open", "agent", name,
			"remote", c.RemoteAddr().String(), "bound", s.agentConns.max)
		return false
	}
	e, ok := c.(*admitted)
	if !ok {
		// Not from an admission's listener: nothing closes it through
		// here, so nothing is counted.
		release()
		return true
	}
	e.authenticatedAs(release)
	return true
}
