package hub

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/equus-monitoring/equus/wire"
)

// readLoop reads until the connection ends. It reports whether it ended
// with an error sent to the agent: the writer then closes the connection.
func (ss *Session) readLoop(r *wire.Reader) bool {
	for {
		m, err := r.Read()
		if err != nil {
			var pe *wire.ProtocolError
			switch {
			case errors.As(err, &pe):
				ss.log.Warn("protocol error from agent", "err", err)
				ss.fail(pe.Code, pe.Detail)
				return true
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			default:
				select {
				case <-ss.done:
				default:
					ss.log.Info("read from agent", "err", err)
				}
			}
			return false
		}
		ss.lastRead.Store(ss.hub.clock.Now().UnixNano())
		switch m.Kind {
		case wire.KindResult:
			ss.deliver(m)
		case wire.KindHello:
			ss.log.Warn("second hello on one connection")
			ss.fail(wire.CodeBadCommand, "second hello")
			return true
		default:
			// check, reload and error travel only from helen to equus.
			ss.log.Warn("agent sent a command that only helen sends", "command", m.Kind.String())
			ss.fail(wire.CodeBadCommand, m.Kind.String()+" from agent")
			return true
		}
	}
}

// fail sends error code to the agent and closes the session.
func (ss *Session) fail(code wire.Code, detail string) {
	ss.hub.metrics.protocolErrors.With(string(code)).Inc()
	ss.log.Debug("closing with error", "code", code, "detail", detail)
	ctx, cancel := context.WithTimeout(context.Background(), ss.hub.cfg.WriteTimeout)
	defer cancel()
	if ss.send(ctx, outMsg{m: wire.Error(code), last: true}, false) != nil {
		ss.close()
	}
}

func (ss *Session) close() { ss.closeWith(func(c net.Conn) { c.Close() }) }

func (ss *Session) closeWith(closeConn func(net.Conn)) {
	ss.closeOnce.Do(func() {
		ss.calls.Close(errSessionClosed)
		close(ss.done)
		closeConn(ss.conn)
	})
}
