// Package peerlog bounds the log lines that helen's peers can make it
// write.
package peerlog

import (
	"context"
	"log"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// The log lines a peer can make helen write (a result for no check, a
// refused enrollment, a refused connection) are rate-limited per peer and
// line, so that a peer sending a million frames does not write a million
// lines: each (peer, message) gets Lines lines a Window; the lines
// past that are counted, and one line says how many were held back when
// the window closes. At most MaxKeys pairs are tracked: past that, the
// lines of new pairs share one budget, so that many peers cannot multiply
// it without bound either. The bound on what peers make helen log is
// therefore about (MaxKeys+1) × (Lines+1) lines a window.
const (
	Lines   = 10
	Window  = time.Minute
	MaxKeys = 1024
)

// otherPeers is the key of the one budget that peers share once
// MaxKeys pairs are tracked.
const otherPeers = "(other peers)"

// Limiter counts, per peer and message, the lines of a window.
type Limiter struct {
	base    *slog.Logger
	now     func() time.Time
	lines   int
	window  time.Duration
	maxKeys int

	mu    sync.Mutex
	keys  map[logKey]*logCount
	swept time.Time
}

type logKey struct{ peer, msg string }

// logCount is one key's window.
type logCount struct {
	start      time.Time
	passed     int // lines let through since start
	suppressed int // lines held back since start
	// Where the summary of the held-back lines goes: the handler (with its
	// attributes) and the level of the last of them.
	h     slog.Handler
	level slog.Level
}

// suppressedLines is the line that says how many lines of a key a window
// held back.
type suppressedLines struct {
	h     slog.Handler
	level slog.Level
	peer  string
	msg   string
	n     int
}

// New returns the limiter of the lines written to base, whose windows
// run on now (nil: time.Now).
func New(base *slog.Logger, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{base: base, now: now, lines: Lines, window: Window, maxKeys: MaxKeys, keys: map[logKey]*logCount{}}
}

// admit counts a line of peer at level with message msg, to go to h. It
// reports whether the line may be written, and returns the summaries of
// windows that closed, to be written first.
func (l *Limiter) admit(h slog.Handler, peer string, level slog.Level, msg string) (bool, []suppressedLines) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []suppressedLines
	if now.Sub(l.swept) >= l.window {
		out = l.sweepLocked(now, out)
	}
	k := logKey{peer, msg}
	c, ok := l.keys[k]
	if !ok && len(l.keys) >= l.maxKeys {
		k = logKey{peer: otherPeers}
		c, ok = l.keys[k]
	}
	if !ok {
		c = &logCount{start: now}
		l.keys[k] = c
	}
	if now.Sub(c.start) >= l.window {
		out = appendSummary(out, k, c)
		c.start, c.passed, c.suppressed = now, 0, 0
	}
	c.h, c.level = h, level
	if c.passed < l.lines {
		c.passed++
		return true, out
	}
	c.suppressed++
	return false, out
}

// sweep returns the summaries of the windows that have closed, and forgets
// their keys.
func (l *Limiter) sweep() []suppressedLines {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sweepLocked(now, nil)
}

func (l *Limiter) sweepLocked(now time.Time, out []suppressedLines) []suppressedLines {
	l.swept = now
	for k, c := range l.keys {
		if now.Sub(c.start) >= l.window {
			out = appendSummary(out, k, c)
			delete(l.keys, k)
		}
	}
	return out
}

// flush returns the summaries of every window, closed or not, and forgets
// every key: what helen says as it stops.
func (l *Limiter) flush() []suppressedLines {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []suppressedLines
	for k, c := range l.keys {
		out = appendSummary(out, k, c)
		delete(l.keys, k)
	}
	return out
}

func appendSummary(out []suppressedLines, k logKey, c *logCount) []suppressedLines {
	if c.suppressed == 0 {
		return out
	}
	return append(out, suppressedLines{h: c.h, level: c.level, peer: k.peer, msg: k.msg, n: c.suppressed})
}

// write logs the summary.
func (s suppressedLines) write(ctx context.Context, now time.Time) {
	r := slog.NewRecord(now, s.level, "suppressed similar lines", 0)
	r.AddAttrs(slog.Int("suppressed", s.n), slog.String("peer", s.peer))
	if s.msg != "" {
		r.AddAttrs(slog.String("like", s.msg))
	}
	s.h.Handle(ctx, r)
}

func writeSummaries(sums []suppressedLines, now time.Time) {
	for _, s := range sums {
		s.write(context.Background(), now)
	}
}

// limitedHandler passes a peer's records through the limiter.
type limitedHandler struct {
	slog.Handler
	lim  *Limiter
	peer string
}

func (h limitedHandler) Handle(ctx context.Context, r slog.Record) error {
	ok, sums := h.lim.admit(h.Handler, h.peer, r.Level, r.Message)
	for _, s := range sums {
		s.write(ctx, r.Time)
	}
	if !ok {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h limitedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return limitedHandler{Handler: h.Handler.WithAttrs(as), lim: h.lim, peer: h.peer}
}

func (h limitedHandler) WithGroup(name string) slog.Handler {
	return limitedHandler{Handler: h.Handler.WithGroup(name), lim: h.lim, peer: h.peer}
}

// For returns the logger of the lines a peer can make helen write: an
// agent by its name, any other client by its address (Addr).
func (l *Limiter) For(peer string) *slog.Logger {
	return slog.New(limitedHandler{Handler: l.base.Handler(), lim: l, peer: peer})
}

// Addr is the peer of a remote address: its host, without the port,
// which changes with every connection.
func Addr(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// Run writes the summaries of closed windows whose peers have gone
// quiet, once a window, until ctx ends; then those of every window.
func (l *Limiter) Run(ctx context.Context) {
	t := time.NewTicker(l.window)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			writeSummaries(l.sweep(), l.now())
		case <-ctx.Done():
			l.Flush()
			return
		}
	}
}

// Flush writes the summaries of every window, closed or not: what helen
// says as it stops.
func (l *Limiter) Flush() { writeSummaries(l.flush(), l.now()) }

// HTTPErrorLog returns the error log of helen's HTTP servers: net/http's
// lines about what clients did wrong ("http: TLS handshake error from
// ADDR: ..."), at debug level and rate-limited per client address.
func (l *Limiter) HTTPErrorLog() *log.Logger { return log.New(httpErrorLog{l}, "", 0) }

// httpErrorLog is the writer of HTTPErrorLog.
type httpErrorLog struct{ l *Limiter }

func (w httpErrorLog) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	msg, peer, detail := line, "", ""
	if before, after, ok := strings.Cut(line, " from "); ok {
		addr, rest, _ := strings.Cut(strings.TrimPrefix(after, "client "), ": ")
		if host, _, err := net.SplitHostPort(addr); err == nil {
			msg, peer, detail = before, host, rest
		}
	}
	w.l.For(peer).Debug(msg, "remote", peer, "err", detail)
	return len(p), nil
}
