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

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// ending says why a session ended.
type ending int

const (
	endUnreachable ending = iota // no connection to helen could be made
	endFailed                    // the connection failed or helen broke the protocol
	endError                     // helen sent error
	endReload                    // helen sent reload
	endShutdown                  // the agent's context ended
)

// outcome is what a session tells the loop that runs sessions.
type outcome struct {
	end     ending
	err     error         // endUnreachable, endFailed: why
	message string        // endError: what helen said
	checks  int           // checks received
	up      time.Duration // how long the session lasted after the hello
}

const (
	dialTimeout = 30 * time.Second
	// cancelGrace is how long checks get to return once cancelled before
	// the session gives up on their results.
	cancelGrace = time.Second
)

// longAgo is a deadline in the past: setting it wakes a blocked Read.
var longAgo = time.Unix(1, 0)

// dial connects to helen: TLS with the agent's certificate, or plain TCP
// in insecure mode.
func (a *agent) dial(ctx context.Context) (net.Conn, error) {
	nd := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if a.cfg.InsecurePlaintext {
		return nd.DialContext(ctx, "tcp", a.cfg.Helen)
	}
	trust, err := ResolveTrust(ctx, a.trust, a.cfg.Helen)
	if err != nil {
		return nil, err
	}
	a.trust = trust
	tlsCfg, err := sessionTLS(trust, &a.cert)
	if err != nil {
		return nil, err
	}
	d := &tls.Dialer{NetDialer: nd, Config: tlsCfg}
	return d.DialContext(ctx, "tcp", a.cfg.Helen)
}

// session runs one connection to helen, from the dial to the close.
func (a *agent) session(ctx context.Context) outcome {
	conn, err := a.dial(ctx)
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
		out:       make(chan wire.Message, a.cfg.Concurrency),
		quit:      make(chan struct{}),
		closed:    make(chan struct{}),
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeResults(w)
	}()
	o := s.readChecks(ctx)
	s.finish(o.end, writerDone)
	o.up = time.Since(start)
	return o
}

// session is the state of one connection shared by its goroutines: the
// reader (the session's own), one per running check, and the writer.
type session struct {
	agent *agent
	conn  net.Conn
	// out carries results to the writer.
	out chan wire.Message
	// quit tells the writer to send what is queued and stop.
	quit chan struct{}
	// closed is closed once the writer has stopped: results sent after it
	// are dropped instead of blocking their check's goroutine.
	closed  chan struct{}
	running sync.WaitGroup
	pending atomic.Int64
	// runCtx is the context of the checks: it outlives a cancelled session
	// context for the drain, and cancelRun ends it.
	runCtx    context.Context
	cancelRun context.CancelFunc
}

// readChecks reads helen's messages and starts a goroutine for each check
// until the session must end, and says why.
func (s *session) readChecks(ctx context.Context) outcome {
	a := s.agent
	stop := context.AfterFunc(ctx, func() { s.conn.SetReadDeadline(longAgo) })
	defer stop()
	r := wire.NewReader(s.conn)
	checks := 0
	for {
		m, err := r.Read()
		if err != nil {
			if ctx.Err() != nil {
				return outcome{end: endShutdown, checks: checks}
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
			s.start(ctx, m)
		case wire.KindError:
			return outcome{end: endError, message: m.Text, checks: checks}
		case wire.KindReload:
			a.log.Info("helen asks for a reload", "checks_running", s.pending.Load())
			return outcome{end: endReload, checks: checks}
		default:
			// Equus never answers with error: it just hangs up.
			return outcome{end: endFailed, err: fmt.Errorf("helen sent %s, which only an agent sends", m.Kind), checks: checks}
		}
	}
}

// start runs the check m in its own goroutine. A Lua check first takes a
// slot of the agent's semaphore, waiting as long as it takes, so that no
// check is ever dropped; built-ins take microseconds and need none, which
// keeps equus.ping answered while slow checks fill every slot.
func (s *session) start(ctx context.Context, m wire.Message) {
	a := s.agent
	builtin := isBuiltin(m.Name)
	if !builtin {
		select {
		case a.sem <- struct{}{}:
		case <-ctx.Done():
			s.send(wire.Result(m.ID, m.Name, result.Unknownf("%s not run: equus is shutting down", m.Name).Encode(wire.MaxBlob)))
			return
		}
	}
	s.running.Add(1)
	s.pending.Add(1)
	go func() {
		defer s.running.Done()
		defer s.pending.Add(-1)
		var doc result.Doc
		if builtin {
			doc = a.runBuiltin(s.runCtx, m.Name)
		} else {
			doc = a.rt.Run(s.runCtx, m.Name, m.Blob)
			<-a.sem
		}
		s.send(wire.Result(m.ID, m.Name, doc.Encode(wire.MaxBlob)))
	}()
}

// send hands a result to the writer, or drops it once the writer is gone.
func (s *session) send(m wire.Message) {
	select {
	case s.out <- m:
	case <-s.closed:
	}
}

// writeResults is the session's only writer. It flushes whenever nothing
// more is queued, so that results finishing together share a TLS record
// and a lone result is not held back.
func (s *session) writeResults(w *wire.Writer) {
	var failed error
	write := func(m wire.Message) {
		if failed != nil {
			return
		}
		err := w.Write(m)
		var pe *wire.ProtocolError
		if errors.As(err, &pe) {
			// Nothing was written; the stream is fine. Unreachable: names
			// come from the reader and documents are encoded to fit.
			s.agent.log.Error("result not sent", "id", m.ID, "check", m.Name, "err", err)
			return
		}
		if err == nil && len(s.out) == 0 {
			err = w.Flush()
		}
		if err != nil {
			failed = err
			s.agent.log.Warn("writing to helen failed", "err", err)
			// Wake the reader: the session is over.
			s.conn.Close()
		}
	}
	for {
		select {
		case m := <-s.out:
			write(m)
		case <-s.quit:
			for {
				select {
				case m := <-s.out:
					write(m)
				default:
					if failed == nil {
						w.Flush()
					}
					return
				}
			}
		}
	}
}

// finish ends the session: after a reload or a shutdown the running checks
// get the drain time to finish and send their results; after a failure
// they are cancelled at once, since their results have nowhere to go.
func (s *session) finish(end ending, writerDone <-chan struct{}) {
	a := s.agent
	switch end {
	case endReload, endShutdown:
		s.conn.SetWriteDeadline(time.Now().Add(a.cfg.Drain + cancelGrace))
		if !waitTimeout(&s.running, a.cfg.Drain) {
			a.log.Warn("checks still running after the drain time, cancelling them", "checks", s.pending.Load(), "drain", a.cfg.Drain)
		}
	default:
		s.conn.Close()
	}
	s.cancelRun()
	if !waitTimeout(&s.running, cancelGrace) {
		a.log.Warn("checks ignore cancellation; leaving them behind", "checks", s.pending.Load())
	}
	close(s.quit)
	<-writerDone
	close(s.closed)
	s.conn.Close()
}

// waitTimeout waits for wg for at most d and reports whether it was done.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
