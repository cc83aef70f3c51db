package netlimit

import (
	"net"
	"sync"
)

// The file descriptors helen keeps out of reach of the connections that
// have not shown a valid agent certificate. Of the descriptors the process
// may open (RLIMIT_NOFILE, whose soft limit Go raises to the hard limit at
// start), fdReserveProcess are helen's own (the database, the listeners,
// the poller, logs, the files it serves), maxAdminConns the admin socket's
// and the operators' port's bound its own; of what is left, half may go to
// connections without a valid certificate, up to maxUnauthDefault, and the
// rest stays for agents with one.
const (
	fdReserveProcess = 128
	// maxAdminConns bounds the admin socket's connections; more wait to be
	// accepted.
	maxAdminConns = 32
	// defaultMaxOpsConns and defaultMaxOpsPerAddress bound the operators'
	// port's connections, in all and per source address.
	defaultMaxOpsConns      = 256
	defaultMaxOpsPerAddress = 64
	DefaultMaxUnauthPerAddr = 256
	minUnauthenticated      = 16
	// maxUnauthDefault caps the default bound where the descriptor limit is
	// high: an idle HTTPS connection costs helen some 35 to 50 KiB of memory
	// (tools/equus-load/idle.sh measures it), so this is half a GiB at most.
	maxUnauthDefault = 10000
	fdLimitUnknown   = 16384 // where the system does not say
)

// Limits are the bounds of a helen's connections.
type Limits struct {
	NoFile          int // the descriptors the process may open
	Unauth          int // agents' port, without a valid certificate, in all
	UnauthPerAddr   int // and per source address
	Ops, OpsPerAddr int // operators' port, in all and per source address
	Admin           int // admin socket
}

// Budget derives the bounds from the descriptor limit nofile and the
// configuration, whose non-zero bounds win.
// Bounds are the configured bounds; zero ones take their default.
type Bounds struct {
	MaxUnauthenticated           int
	MaxUnauthenticatedPerAddress int
	MaxOpsConns                  int
}

func Budget(nofile int, cfg Bounds) Limits {
	l := Limits{NoFile: nofile, Admin: maxAdminConns, Ops: defaultMaxOpsConns, OpsPerAddr: defaultMaxOpsPerAddress}
	if cfg.MaxOpsConns > 0 {
		l.Ops = cfg.MaxOpsConns
	}
	l.Unauth = min(max((nofile-fdReserveProcess-l.Admin-l.Ops)/2, minUnauthenticated), maxUnauthDefault)
	if cfg.MaxUnauthenticated > 0 {
		l.Unauth = cfg.MaxUnauthenticated
	}
	l.UnauthPerAddr = DefaultMaxUnauthPerAddr
	if cfg.MaxUnauthenticatedPerAddress > 0 {
		l.UnauthPerAddr = cfg.MaxUnauthenticatedPerAddress
	}
	l.UnauthPerAddr = min(l.UnauthPerAddr, l.Unauth)
	l.OpsPerAddr = min(l.OpsPerAddr, l.Ops)
	return l
}

// limitListener accepts at most n connections open at once: Accept waits
// for one to close. For the admin socket, whose clients are helen's own
// user's commands: they wait rather than fail.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func NewLimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
