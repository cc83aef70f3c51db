package pgstore

import "sync"

// held is the epochs of the claims this store made (Claim), by agent:
// the fencing tokens its writes for those agents carry.
type held struct {
	mu sync.Mutex
	m  map[string]int64
}

// heldEpoch returns the epoch of this store's claim of agent, if it made
// one: a write for agent must then carry the condition
//
//	EXISTS (SELECT 1 FROM claims WHERE agent = $agent AND helen = $helen AND epoch = $epoch)
//
// with $helen s.opt.Helen, and return state.ErrFenced when it fails. A
// write for an agent never claimed here is not fenced.
func (s *Store) heldEpoch(agent string) (int64, bool) {
	s.held.mu.Lock()
	defer s.held.mu.Unlock()
	e, ok := s.held.m[agent]
	return e, ok
}
