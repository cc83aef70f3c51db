package pki

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
)

// SessionCache is a TLS client's session cache that keeps a session
// through a handshake the connection broke. crypto/tls drops the session
// a client offered whenever its handshake fails (RFC 5077 3.2), to
// recover from one the server cannot take; but a helen restarting or
// killed breaks the handshakes under way by closing their connections,
// and a fleet whose sessions are dropped so comes back with whole
// handshakes, several times the processor time of a resumed one. After a
// handshake that failed, Failed puts back what it dropped when the
// connection broke (reset, closed, refused, timed out), and lets it go
// for anything else, a TLS alert or a certificate refused. It is safe
// for concurrent use.
type SessionCache struct {
	cache tls.ClientSessionCache

	mu      sync.Mutex
	dropped map[string]*tls.ClientSessionState // since the last Failed
}

// NewSessionCache returns a SessionCache of at most n sessions, the least
// recently used going first.
func NewSessionCache(n int) *SessionCache {
	return &SessionCache{cache: tls.NewLRUClientSessionCache(n), dropped: map[string]*tls.ClientSessionState{}}
}

// Get is tls.ClientSessionCache's.
func (c *SessionCache) Get(key string) (*tls.ClientSessionState, bool) { return c.cache.Get(key) }

// Put is tls.ClientSessionCache's; it keeps aside the session a nil
// drops.
func (c *SessionCache) Put(key string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs != nil {
		delete(c.dropped, key)
	} else if old, ok := c.cache.Get(key); ok {
		c.dropped[key] = old
	}
	c.cache.Put(key, cs)
}

// Failed tells the cache that a handshake through it failed with err: it
// puts the sessions dropped back when err is the connection breaking.
func (c *SessionCache) Failed(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if connectionBroke(err) {
		for key, cs := range c.dropped {
			c.cache.Put(key, cs)
		}
	}
	clear(c.dropped)
}

// connectionBroke reports whether err is the connection failing rather
// than TLS: refused, reset, closed under the handshake, or timed out.
func connectionBroke(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.As(err, &ne) && ne.Timeout()
}
