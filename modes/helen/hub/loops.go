package hub

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

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

func (ss *Session) send(ctx context.Context, m outMsg) error {
	select {
	case ss.out <- m:
		return nil
	case <-ss.done:
		return errSessionClosed
	case <-ctx.Done():
		return context.Cause(ctx) // as await returns it
	}
}

// writeLoop writes what is queued, in one write when the queue is empty,
// each under the write deadline so a stuck agent only ends its own session.
// The bytes go through a buffer borrowed for the burst, so that an idle
// session, the common case, holds no write buffer at all.
func (ss *Session) writeLoop() {
	for {
		var om outMsg
		select {
		case om = <-ss.out:
		case <-ss.done:
			return
		}
		bp := writeBufs.Get().(*[]byte)
		buf := (*bp)[:0]
		last := false
		for {
			var err error
			if buf, err = wire.Append(buf, om.m); err != nil {
				ss.log.Error("write to agent: message refused", "err", err)
			}
			last = last || om.last
			if last || len(buf) >= maxBurst {
				break
			}
			select {
			case om = <-ss.out:
				continue
			default:
			}
			break
		}
		ss.conn.SetWriteDeadline(time.Now().Add(ss.hub.cfg.WriteTimeout))
		_, err := ss.conn.Write(buf)
		if cap(buf) <= 2*maxBurst {
			*bp = buf[:0]
			writeBufs.Put(bp)
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				ss.log.Warn("write to agent", "err", err)
			}
			ss.close()
			return
		}
		if last {
			ss.closeWith(ss.hub.closeGently)
			return
		}
	}
}

// maxBurst is how many bytes the writer gathers before writing them out.
const maxBurst = 64 << 10

// writeBufs are the write buffers sessions borrow for a burst of messages.
var writeBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

// fail sends error code to the agent and closes the session.
func (ss *Session) fail(code wire.Code, detail string) {
	ss.hub.metrics.protocolErrors.With(string(code)).Inc()
	ss.log.Debug("closing with error", "code", code, "detail", detail)
	ctx, cancel := context.WithTimeout(context.Background(), ss.hub.cfg.WriteTimeout)
	defer cancel()
	if ss.send(ctx, outMsg{m: wire.Error(code), last: true}) != nil {
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
