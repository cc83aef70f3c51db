package helen

import (
	"net"
	"sync"
	"time"
)

// Timeouts of helen's HTTP servers. Every connection is bounded in time
// whatever its peer does: its TLS handshake (Config.HelloTimeout on the
// agents' port, readHeaderTimeout on the operators'), the headers of each
// request, the whole request, each write of a response, and the wait
// between two requests (Config.HTTPIdleTimeout).
const (
	readHeaderTimeout = 10 * time.Second
	// readTimeout bounds a whole request, body included: the bodies helen
	// takes are small (an enrollment, a schedule, a login).
	readTimeout = 30 * time.Second
	// writeTimeout bounds a response, and each 32 KiB of a download (a
	// release binary, the check bundle), so that a slow link gets the file
	// and a stalled one is cut.
	writeTimeout = 30 * time.Second
	// maxDownloadTime bounds a download's whole response however it goes
	// on: a 30 MB binary in it needs some 35 KB/s, and a reader slower
	// than that holds a download slot no longer.
	maxDownloadTime = 15 * time.Minute
	// opsWriteTimeout bounds a response of the operators' port, which may
	// be a long history.
	opsWriteTimeout = 60 * time.Second
	// defaultHTTPIdleTimeout is how long a keep-alive connection may wait
	// for its next request.
	defaultHTTPIdleTimeout = 60 * time.Second
)

// maxDownloads bounds the downloads of a release binary served at once,
// with or without an agent certificate (the bootstrap script has none):
// each hashes the whole binary again, so that what helen serves is what it
// verified, and holds it in memory when it comes out of an archive (at most
// update.MaxBinary). A download past it is answered 503 with Retry-After
// downloadRetryAfter.
const (
	maxDownloads       = 8
	downloadRetryAfter = 10 * time.Second
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
	defaultMaxUnauthPerAddr = 256
	minUnauthenticated      = 16
	// maxUnauthDefault caps the default bound where the descriptor limit is
	// high: an idle HTTPS connection costs helen some 35 to 50 KiB of memory
	// (tools/equus-load/idle.sh measures it), so this is half a GiB at most.
	maxUnauthDefault = 10000
	fdLimitUnknown   = 16384 // where the system does not say
)

// connLimits are the bounds of a helen's connections.
type connLimits struct {
	nofile          int // the descriptors the process may open
	unauth          int // agents' port, without a valid certificate, in all
	unauthPerAddr   int // and per source address
	ops, opsPerAddr int // operators' port, in all and per source address
	admin           int // admin socket
}

// connBudget derives the bounds from the descriptor limit nofile and the
// configuration, whose non-zero bounds win.
func connBudget(nofile int, cfg Config) connLimits {
	l := connLimits{nofile: nofile, admin: maxAdminConns, ops: defaultMaxOpsConns, opsPerAddr: defaultMaxOpsPerAddress}
	if cfg.MaxOpsConns > 0 {
		l.ops = cfg.MaxOpsConns
	}
	l.unauth = min(max((nofile-fdReserveProcess-l.admin-l.ops)/2, minUnauthenticated), maxUnauthDefault)
	if cfg.MaxUnauthenticated > 0 {
		l.unauth = cfg.MaxUnauthenticated
	}
	l.unauthPerAddr = defaultMaxUnauthPerAddr
	if cfg.MaxUnauthenticatedPerAddress > 0 {
		l.unauthPerAddr = cfg.MaxUnauthenticatedPerAddress
	}
	l.unauthPerAddr = min(l.unauthPerAddr, l.unauth)
	l.opsPerAddr = min(l.opsPerAddr, l.ops)
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

func newLimitListener(ln net.Listener, n int) net.Listener {
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
