package netlimit

import (
	"sync"
)

// MaxConnsPerAgent bounds the connections open at once with one agent
// name's valid certificate, wire sessions, shell sessions and HTTPS
// together: an agent needs one session and, now and then, an HTTPS
// connection or two (its update, the check bundle, a renewal), a
// reconnecting one a second session until the first is closed, and one
// with --allow-shell a connection a shell session (at most 4 by its own
// default).
const MaxConnsPerAgent = 8

// AgentConns counts the connections of each agent name, from the TLS
// handshake that showed its valid certificate until the connection is
// closed. It gives an agent's key the bound that an admission gives the
// clients without one: the admission stops counting a connection when its
// certificate is valid. The names are those of certificates helen issued
// and that pass its store's check, so the map holds at most the agents
// enrolled, and only those with a connection open.
type AgentConns struct {
	Max int
	mu  sync.Mutex
	n   map[string]int
}

func NewAgentConns(max int) *AgentConns {
	return &AgentConns{Max: max, n: map[string]int{}}
}

// Acquire counts a connection of name, or reports false when name has max
// open already. release, once, gives the place back.
func (a *AgentConns) Acquire(name string) (release func(), ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n[name] >= a.Max {
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

// Count returns how many connections of name are counted.
func (a *AgentConns) Count(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[name]
}
