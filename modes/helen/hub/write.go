package hub

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/wire"
)

// A session's messages to its agent are written by whoever holds its
// write, one holder at a time, so that they go out in the order they were
// sent. A check sent while no write is under way and no other check is
// outstanding is written at once by its sender, in its own goroutine:
// handing it to another goroutine would wake a thread, which costs more
// than the write. The rest queues (up to maxQueued messages, then the
// senders wait) for the session's writer, to which the holder hands the
// write on: with checks outstanding more are likely on their way (a
// batch of runs, a schedule's tick), and the writer writes those that
// come together in one write, one system call and TLS record for many.
// Every write is under the write deadline, so a stuck agent holds up its
// own session only, and a sender no longer than that.

// maxQueued is how many messages wait for a session's writer; more
// senders wait for room.
const maxQueued = 16

// writeState is the queue of a session's writes; mu guards it.
type writeState struct {
	mu      sync.Mutex
	queued  []outMsg      // in the order they were sent
	writing bool          // a sender or the writer holds the write
	ending  bool          // a last message was queued: nothing goes after it
	slots   chan struct{} // buffered maxQueued: a queued message holds one
	kick    chan struct{} // buffered 1: hands the write on to the writer
}

// init readies the queue of a new session, whose writer holds the write
// until it starts: what is sent before that (equus.info) waits for it,
// and goes first.
func (w *writeState) init() {
	w.writing = true
	w.slots = make(chan struct{}, maxQueued)
	w.kick = make(chan struct{}, 1)
}

// send writes m, or queues it for the writer, until ctx ends. alone
// reports whether no other check is outstanding. A message that ends the
// session (last) always goes to the writer, which closes the connection
// once it is out, gently, so that no sender waits for that.
func (ss *Session) send(ctx context.Context, m outMsg, alone bool) error {
	w := &ss.w
	w.mu.Lock()
	switch {
	case w.ending:
		w.mu.Unlock()
		return errSessionClosed
	case alone && !w.writing && !m.last:
		w.writing = true
		w.mu.Unlock()
		return ss.writeNow(m.m)
	}
	w.mu.Unlock()
	select {
	case w.slots <- struct{}{}:
	case <-ss.done:
		return errSessionClosed
	case <-ctx.Done():
		return context.Cause(ctx) // as await returns it
	}
	w.mu.Lock()
	if w.ending {
		w.mu.Unlock()
		<-w.slots
		return errSessionClosed
	}
	w.queued = append(w.queued, m)
	w.ending = m.last
	if !w.writing {
		w.writing = true
		w.kick <- struct{}{} // the only kick: no one holds the write
	}
	w.mu.Unlock()
	return nil
}

// writeNow writes m in the sender's goroutine, which holds the write, and
// hands what was queued meanwhile on to the writer.
func (ss *Session) writeNow(m wire.Message) error {
	bp := writeBufs.Get().(*[]byte)
	buf, err := wire.Append((*bp)[:0], m)
	if err == nil {
		err = ss.writeOut(buf)
	} else {
		ss.log.Error("write to agent: message refused", "err", err)
	}
	putWriteBuf(bp, buf)
	w := &ss.w
	w.mu.Lock()
	if len(w.queued) > 0 {
		w.kick <- struct{}{}
	} else {
		w.writing = false
	}
	w.mu.Unlock()
	if errors.Is(err, errSessionClosed) {
		return err
	}
	return nil
}

// writeOut writes buf under the write deadline; a failed write ends the
// session (errSessionClosed).
func (ss *Session) writeOut(buf []byte) error {
	ss.conn.SetWriteDeadline(time.Now().Add(ss.hub.cfg.WriteTimeout))
	if _, err := ss.conn.Write(buf); err != nil {
		if !errors.Is(err, net.ErrClosed) {
			ss.log.Warn("write to agent", "err", err)
		}
		ss.close()
		return errSessionClosed
	}
	return nil
}

// writeLoop is the session's writer: it holds the write from the start
// and whenever a sender hands it on, and writes what is queued, in one
// write when it fits in maxBurst bytes, until nothing is. The bytes go
// through a buffer borrowed for the burst, so that an idle session, the
// common case, holds no write buffer at all.
func (ss *Session) writeLoop() {
	var batch []outMsg
	for {
		var more bool
		if batch, more = ss.writeQueued(batch); !more {
			return
		}
		select {
		case <-ss.w.kick:
		case <-ss.done:
			return
		}
	}
}

// writeQueued writes what is queued until the queue is empty, and lets go
// of the write. It reports false when the session has ended.
func (ss *Session) writeQueued(batch []outMsg) ([]outMsg, bool) {
	w := &ss.w
	for {
		w.mu.Lock()
		if len(w.queued) == 0 {
			w.writing = false
			w.mu.Unlock()
			return batch, true
		}
		batch, w.queued = w.queued, batch[:0]
		w.mu.Unlock()
		for range batch {
			<-w.slots
		}
		ok := ss.writeBurst(batch)
		clear(batch)
		if !ok {
			return batch, false
		}
	}
}

// writeBurst writes batch, maxBurst bytes at a time, and reports whether
// the session goes on.
func (ss *Session) writeBurst(batch []outMsg) bool {
	bp := writeBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() { putWriteBuf(bp, buf) }()
	for i, om := range batch {
		var err error
		if buf, err = wire.Append(buf, om.m); err != nil {
			ss.log.Error("write to agent: message refused", "err", err)
		}
		if len(buf) < maxBurst && !om.last && i < len(batch)-1 {
			continue
		}
		if ss.writeOut(buf) != nil {
			return false
		}
		buf = buf[:0]
		if om.last {
			ss.closeWith(ss.hub.closeGently)
			return false
		}
	}
	return true
}

// maxBurst is how many bytes the writer gathers before writing them out.
const maxBurst = 64 << 10

// writeBufs are the write buffers sessions borrow for a write.
var writeBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

// putWriteBuf gives back a buffer borrowed from writeBufs, unless a large
// message grew it.
func putWriteBuf(bp *[]byte, buf []byte) {
	if cap(buf) <= 2*maxBurst {
		*bp = buf[:0]
		writeBufs.Put(bp)
	}
}
