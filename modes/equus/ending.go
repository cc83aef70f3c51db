package equus

import (
	"log/slog"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/internal/waitgroup"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// The end of a session: why it ended (ending, outcome), the drain that
// lets the checks it took finish (finish), and the one line the agent logs
// about it (logEnding).

// ending says why a session ended.
type ending int

const (
	endUnreachable ending = iota // no connection to helen could be made
	endFailed                    // the connection failed or helen broke the protocol
	endError                     // helen sent error
	endReload                    // helen sent reload
	endRenewed                   // the certificate was renewed: reconnect with the new one
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

// cancelGrace is how long checks get to return once cancelled before the
// session gives up on their results: after a reload or a shutdown, the
// last part of the drain time (at most half of it).
const cancelGrace = time.Second

// finish ends the session. After a reload or a shutdown the checks taken
// get the drain time: running ones to finish, queued ones to start, and
// their results are sent; a check still queued then is answered that it
// did not run. Those still running a grace before its end are cancelled,
// so that the session is over within the drain time even when a check
// ignores cancellation. After a failure the queued checks are dropped and
// the running ones cancelled at once, since their results have nowhere to
// go.
func (s *session) finish(end ending, writerDone <-chan struct{}) {
	a := s.agent
	s.end = end
	grace := cancelGrace
	switch end {
	case endReload, endRenewed, endShutdown:
		grace = min(cancelGrace, a.cfg.Drain/2)
		close(s.draining)
		s.conn.SetWriteDeadline(time.Now().Add(a.cfg.Drain))
		if !waitgroup.Within(&s.workers, a.cfg.Drain-grace) {
			a.log.Warn("checks still running near the end of the drain time, cancelling them", "checks", s.running.Load(), "queued", len(s.queue), "drain", a.cfg.Drain)
		}
	default:
		s.conn.Close()
	}
	close(s.stopping)
	s.unqueue()
	s.cancelRun()
	if !waitgroup.Within(&s.workers, grace) {
		a.log.Warn("checks ignore cancellation; leaving them behind", "checks", s.running.Load())
	}
	close(s.quit)
	<-writerDone
	s.held.Add(-int64(s.out.close()))
	s.conn.Close()
}

// unqueue takes the checks still queued once the session is stopping
// and answers that they did not run. The reader has stopped, so nothing
// more comes; a worker may take one meanwhile, and answers it the same.
func (s *session) unqueue() {
	for {
		select {
		case m := <-s.queue:
			s.queuedBytes.Add(-int64(len(m.Blob)))
			s.notRun(m)
		default:
			return
		}
	}
}

// notRun answers a check that was queued when the session ended: after a
// reload, a renewal or a shutdown, helen gets a result saying it did not
// run; after a failure nothing can be sent.
func (s *session) notRun(m wire.Message) {
	switch s.end {
	case endReload:
		s.answer(m, result.Unknownf("%s not run: helen asked equus to reload", m.Name))
	case endRenewed:
		s.answer(m, result.Unknownf("%s not run: equus is reconnecting with its renewed certificate", m.Name))
	case endShutdown:
		s.answer(m, result.Unknownf("%s not run: equus is shutting down", m.Name))
	default:
		s.held.Add(-1)
	}
}

// logEnding writes the one line that says why a session ended and when
// the agent tries again, with what an operator can do about it.
func (a *agent) logEnding(log *slog.Logger, o outcome, wait time.Duration) {
	log = log.With("retry_in", wait.Round(time.Millisecond))
	switch o.end {
	case endUnreachable:
		log.Warn("cannot reach helen; is it running, and is --helen its agents' port?", "err", o.err)
	case endFailed:
		log.Warn("session with helen ended", "err", o.err, "checks", o.checks, "up", o.up.Round(time.Millisecond))
	case endError:
		a.logHelenError(log, o.message)
	case endReload:
		log.Error("helen asks for a reload right after hello: it offers a newer version of equus, and upgrading needs equus running under stage0")
	}
}

// logHelenError logs the error helen sent, saying what it means for this
// agent: the code is the first word of the message.
func (a *agent) logHelenError(log *slog.Logger, message string) {
	code, _, _ := strings.Cut(message, " ")
	switch wire.Code(code) {
	case wire.CodeShuttingDown:
		log.Info("helen is shutting down; reconnecting", "message", message)
	case wire.CodeTryElsewhere:
		log.Info("a helen at its bound of sessions sends this agent elsewhere; dialing another helen", "message", message)
	case wire.CodeNotAuthorized:
		fix := "to join again, remove the certificate and start the agent with a token made for its name (equus helen token --agent NAME)"
		if a.cfg.CertFile != "" {
			fix = "to join again, give it a new certificate (equus helen issue NAME)"
		}
		certPath, _ := a.cfg.KeyPairFiles()
		log.Error("helen refuses this agent's certificate: the agent was revoked, a later enrollment, renewal or helen issue replaced the certificate, "+
			"or it is from another helen's CA; "+fix,
			"message", message, "cert", certPath)
	case wire.CodeUnsupportedProtocolVersion:
		log.Error("helen does not speak this agent's protocol version; install a version of equus that matches helen's", "message", message)
	default:
		log.Error("helen sent an error, disconnecting", "message", message)
	}
}
