package equus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/modes/equus/shell"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

const dialTimeout = 30 * time.Second

// longAgo is a deadline in the past: setting it wakes a blocked Read.
var longAgo = time.Unix(1, 0)

// dial connects to helen: TLS with the agent's certificate cert, or plain
// TCP in insecure mode.
func (a *agent) dial(ctx context.Context, cert tls.Certificate) (net.Conn, error) {
	return a.dialALPN(ctx, cert, wire.ALPN)
}

// dialShell connects to helen for a shell session: the link's address and
// certificate, the shell's ALPN.
func (a *agent) dialShell(ctx context.Context) (net.Conn, error) {
	return a.dialALPN(ctx, a.currentCert(), shellwire.ALPN)
}

func (a *agent) dialALPN(ctx context.Context, cert tls.Certificate, alpn string) (net.Conn, error) {
	nd := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	h := a.currentHelen()
	if a.cfg.InsecurePlaintext {
		return nd.DialContext(ctx, "tcp", h.dial)
	}
	trust, err := a.resolvedTrust(ctx)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := agentTLS(trust, &cert, alpn, a.clock)
	if err != nil {
		return nil, err
	}
	tlsCfg.ServerName = h.serverName
	cache := a.sessionCache(cert)
	tlsCfg.ClientSessionCache = cache
	d := &tls.Dialer{NetDialer: nd, Config: tlsCfg}
	c, err := d.DialContext(ctx, "tcp", h.dial)
	if err != nil {
		cache.Failed(err)
	}
	return c, err
}

// sessionCache returns the TLS session cache of cert: the agent resumes
// its TLS session when it reconnects (helen restarted), which spares both
// sides most of a handshake's work. A new certificate (a renewal) gets a
// new cache, so that no resumed session presents the old one. A
// handshake a restarting helen broke keeps the session (pki.SessionCache).
func (a *agent) sessionCache(cert tls.Certificate) *pki.SessionCache {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tickets == nil || a.ticketsCert != cert.Leaf {
		a.tickets = pki.NewSessionCache(4)
		a.ticketsCert = cert.Leaf
	}
	return a.tickets
}

// session runs one connection to helen, from the dial to the close.
func (a *agent) session(ctx context.Context) outcome {
	cert, renewed, release := a.sessionCert()
	defer release()
	conn, err := a.dial(ctx, cert)
	if err != nil {
		if ctx.Err() != nil {
			return outcome{end: endShutdown}
		}
		return outcome{end: endUnreachable, err: err}
	}
	defer conn.Close()
	w := wire.NewWriter(conn)
	if err := w.Write(wire.Hello(a.cfg.Version)); err != nil {
		return outcome{end: endFailed, err: fmt.Errorf("hello: %w", err)}
	}
	if err := w.Flush(); err != nil {
		return outcome{end: endFailed, err: fmt.Errorf("hello: %w", err)}
	}
	start := time.Now()
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	s := &session{
		agent:     a,
		runCtx:    runCtx,
		cancelRun: cancelRun,
		conn:      conn,
		w:         w,
		queue:     make(chan wire.Message, a.cfg.MaxQueuedChecks),
		out:       newOutbox(a.cfg.MaxUnsentResults, a.cfg.MaxUnsentBytes),
		draining:  make(chan struct{}),
		stopping:  make(chan struct{}),
		quit:      make(chan struct{}),
	}
	if a.cfg.onSession != nil {
		a.cfg.onSession(s)
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeResults()
	}()
	for range a.cfg.Concurrency {
		s.workers.Add(1)
		go s.work()
	}
	o := s.readChecks(ctx, renewed)
	s.finish(o.end, writerDone)
	o.up = time.Since(start)
	return o
}

// session is the state of one connection shared by its goroutines: the
// reader (the session's own), the workers that run Lua checks, and the
// writer.
//
// A check read from helen is held until its result is written: built-ins
// are run by the reader at once; other checks wait in queue for a worker,
// or, when the queue is full, are answered at once that the agent is busy;
// results wait in out for the writer. The reader stops reading only while
// out is full, that is while helen does not read: so held never passes
// MaxUnsentResults + MaxQueuedChecks + Concurrency (see maxHeld).
type session struct {
	agent *agent
	conn  net.Conn
	// w writes to helen, and writeErr is its first failure: both belong
	// to whoever holds the write (outbox.writing), a worker or the writer.
	w        *wire.Writer
	writeErr error
	// queue holds the Lua checks waiting for a worker, and queuedBytes the
	// bytes of their args.
	queue       chan wire.Message
	queuedBytes atomic.Int64
	// out holds the results waiting for the writer.
	out *outbox
	// draining tells the workers to stop once the queue is empty, and
	// stopping to take no more checks; end says why, set before either is
	// closed.
	draining chan struct{}
	stopping chan struct{}
	end      ending
	// quit tells the writer to send what is waiting and stop.
	quit    chan struct{}
	workers sync.WaitGroup
	// running counts the checks the workers are running.
	running atomic.Int64
	// held counts the checks read whose result is not written yet, and
	// peak the most it has been.
	held, peak atomic.Int64
	// stalls counts the times the reader stopped reading for helen to read.
	stalls atomic.Int64
	// runCtx is the context of the checks: it outlives a cancelled session
	// context for the drain, and cancelRun ends it.
	runCtx    context.Context
	cancelRun context.CancelFunc
}

// maxHeld is the most checks a session holds at once.
func (cfg Config) maxHeld() int {
	return cfg.MaxUnsentResults + cfg.MaxQueuedChecks + cfg.Concurrency
}

// readChecks reads helen's messages and answers or queues each check
// until the session must end, and says why. The session ends too when
// renewed does: the certificate it presents was renewed.
func (s *session) readChecks(ctx, renewed context.Context) outcome {
	a := s.agent
	stop := context.AfterFunc(ctx, func() { s.conn.SetReadDeadline(longAgo) })
	defer stop()
	stopRenewed := context.AfterFunc(renewed, func() { s.conn.SetReadDeadline(longAgo) })
	defer stopRenewed()
	r := wire.NewReader(s.conn)
	checks := 0
	for {
		if !s.waitRoom(ctx) {
			return outcome{end: endShutdown, checks: checks}
		}
		m, err := r.Read()
		if err != nil {
			if ctx.Err() != nil {
				return outcome{end: endShutdown, checks: checks}
			}
			if renewed.Err() != nil {
				return outcome{end: endRenewed, checks: checks}
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("helen closed the connection")
			}
			return outcome{end: endFailed, err: err, checks: checks}
		}
		switch m.Kind {
		case wire.KindCheck:
			if checks == 0 {
				a.accepted()
			}
			checks++
			s.take(m)
		case wire.KindError:
			return outcome{end: endError, message: m.Text, checks: checks}
		case wire.KindReload:
			a.log.Info("helen asks for a reload", "checks_running", s.running.Load(), "checks_queued", len(s.queue))
			return outcome{end: endReload, checks: checks}
		default:
			// Equus never answers with error: it just hangs up.
			return outcome{end: endFailed, err: fmt.Errorf("helen sent %s, which only an agent sends", m.Kind), checks: checks}
		}
	}
}

// waitRoom waits until the outbox has room for another result, and
// reports false if ctx ended first. Not reading is how the agent pushes
// back on a helen that sends checks and does not read their results: the
// checks stay in TCP's buffers, then in helen's.
func (s *session) waitRoom(ctx context.Context) bool {
	room := s.out.roomChan()
	select {
	case <-room:
		return true
	default:
	}
	log := s.agent.log.Debug
	if s.stalls.Add(1) == 1 {
		log = s.agent.log.Warn
	}
	n, bytes := s.out.counts()
	log("helen is not reading results: reading no more checks until it does", "unsent", n, "unsent_bytes", bytes, "checks_queued", len(s.queue))
	select {
	case <-room:
		return true
	case <-ctx.Done():
		return false
	}
}

// take answers the check m, or queues it for a worker. Built-ins take
// microseconds and no slot, so the reader runs them itself: equus.ping is
// answered however busy the workers are. A Lua check the queue has no
// room for is answered at once too, saying so: the agent answers every
// check.
func (s *session) take(m wire.Message) {
	if h := s.held.Add(1); h > s.peak.Load() {
		s.peak.Store(h)
	}
	a := s.agent
	if m.Name == shellwire.CheckName {
		s.startShell(m)
		return
	}
	if isBuiltin(m.Name) {
		s.answer(m, a.runBuiltin(s.runCtx, m.Name))
		return
	}
	if !s.enqueue(m) {
		s.answer(m, result.Unknownf("agent busy: %d checks queued, %d running; %s not run", len(s.queue), s.running.Load(), m.Name))
	}
}

// startShell answers equus.shell: at once when the agent takes no shell
// sessions or refuses this one, once its connection said hello otherwise;
// the dial is not the reader's to wait for.
func (s *session) startShell(m wire.Message) {
	a := s.agent
	if a.shells == nil {
		s.answer(m, result.Doc{Status: result.Unknown, Message: shell.OffMessage})
		return
	}
	a.shells.Start(m.Blob, func(doc result.Doc) { s.answer(m, doc) })
}

// enqueue queues m for a worker and reports whether there was room, in
// checks and in bytes of args.
func (s *session) enqueue(m wire.Message) bool {
	size := int64(len(m.Blob))
	if s.queuedBytes.Add(size) > s.agent.cfg.MaxQueuedBytes {
		s.queuedBytes.Add(-size)
		return false
	}
	select {
	case s.queue <- m:
		return true
	default:
		s.queuedBytes.Add(-size)
		return false
	}
}

// work runs queued checks one at a time until the session stops. It waits
// for room in the outbox before it takes a check, so that checks do not
// pile up results that helen does not read, and for a slot of the agent's
// semaphore, which checks left running by an earlier session may hold.
func (s *session) work() {
	defer s.workers.Done()
	a := s.agent
	for {
		select {
		case <-s.out.roomChan():
		case <-s.stopping:
			return
		}
		select {
		case a.sem <- struct{}{}:
		case <-s.stopping:
			return
		}
		m, ok := s.next()
		if !ok {
			<-a.sem
			return
		}
		s.queuedBytes.Add(-int64(len(m.Blob)))
		select {
		case <-s.stopping:
			// next may pick the check over the stop.
			<-a.sem
			s.notRun(m)
			continue
		default:
		}
		s.running.Add(1)
		doc := a.rt.Run(s.runCtx, m.Name, m.Blob)
		s.running.Add(-1)
		<-a.sem
		s.answerNow(m, doc)
	}
}

// next returns the next queued check, waiting for one until the session
// stops, or drains and has none left.
func (s *session) next() (wire.Message, bool) {
	select {
	case m := <-s.queue:
		return m, true
	case <-s.stopping:
		return wire.Message{}, false
	case <-s.draining:
		select {
		case m := <-s.queue:
			return m, true
		default:
			return wire.Message{}, false
		}
	}
}

// answer hands the result of the check m to the writer.
func (s *session) answer(m wire.Message, doc result.Doc) {
	if !s.out.put(wire.Result(m.ID, m.Name, doc.Encode(wire.MaxBlob))) {
		s.held.Add(-1) // the writer is gone
	}
}

// answerNow is answer for a worker: when its check is the only one held
// and no one is writing, the worker writes the result itself, in its own
// goroutine, rather than wake the writer's, which would cost more than
// the write. With other checks held, more results are likely on their
// way, and the writer writes those that come together in one TLS record.
// The reader never writes: it would stop reading while helen does not
// read.
func (s *session) answerNow(m wire.Message, doc result.Doc) {
	r := wire.Result(m.ID, m.Name, doc.Encode(wire.MaxBlob))
	if s.held.Load() > 1 {
		if !s.out.put(r) {
			s.held.Add(-1)
		}
		return
	}
	ok, mine := s.out.putOrWrite(r)
	switch {
	case !ok:
		s.held.Add(-1) // the writer is gone
	case mine:
		s.write(r)
		s.flush()
		s.out.letGo()
	}
}

// write writes m, unless writing has failed; the caller holds the write.
func (s *session) write(m wire.Message) {
	// held drops before out has room again, so a reader woken by the room
	// never counts one past the bound.
	defer s.out.sent(m)
	defer s.held.Add(-1)
	if s.writeErr != nil {
		return
	}
	err := s.w.Write(m)
	var pe *wire.ProtocolError
	if errors.As(err, &pe) {
		// Nothing was written; the stream is fine. Unreachable: names
		// come from the reader and documents are encoded to fit.
		s.agent.log.Error("result not sent", "id", m.ID, "check", m.Name, "err", err)
		return
	}
	if err != nil {
		s.writeFailed(err)
	}
}

// flush sends what the writes buffered; the caller holds the write.
func (s *session) flush() {
	if s.writeErr == nil {
		if err := s.w.Flush(); err != nil {
			s.writeFailed(err)
		}
	}
}

func (s *session) writeFailed(err error) {
	s.writeErr = err
	s.agent.log.Warn("writing to helen failed", "err", err)
	// Wake the reader: the session is over.
	s.conn.Close()
}

// writeResults is the session's writer. It writes the results that a
// worker did not (one came while another was written, or from the
// reader), and flushes whenever nothing more waits, so that results
// finishing together share a TLS record and a lone result is not held
// back.
func (s *session) writeResults() {
	// sendAll writes what waits, and what comes meanwhile, then flushes.
	var batch []wire.Message
	sendAll := func() {
		for {
			batch = s.out.take(batch)
			if len(batch) == 0 {
				break
			}
			for _, m := range batch {
				s.write(m)
			}
		}
		s.flush()
	}
	for {
		select {
		case <-s.out.ready:
			for sendAll(); !s.out.idle(); sendAll() {
			}
		case <-s.quit:
			if s.out.quit() {
				<-s.out.ready // from the worker writing
			}
			sendAll()
			return
		}
	}
}
