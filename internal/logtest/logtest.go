// Package logtest holds what tests need of log output: a writer to the
// test's log, and a buffer that keeps output to read back.
package logtest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Writer sends a logger's lines to the test log.
type Writer struct{ T testing.TB }

func (w Writer) Write(p []byte) (int, error) {
	w.T.Helper()
	w.T.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// Logger returns a text logger at debug level that writes to t's log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(Writer{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Buffer keeps what is written to it for a test to read: a log handler's
// output (Lines reads it as JSON lines) or a child process's. It is safe
// for concurrent writers and readers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset forgets what was written.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// Lines returns the records written, decoded.
func (b *Buffer) Lines(t testing.TB) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// WithMsg returns the lines whose message is msg.
func WithMsg(lines []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// SuppressedCount adds up what the "suppressed similar lines" lines of a
// rate-limited log say about msg.
func SuppressedCount(lines []map[string]any, msg string) int {
	n := 0
	for _, l := range WithMsg(lines, "suppressed similar lines") {
		if like, _ := l["like"].(string); like == msg {
			n += int(l["suppressed"].(float64))
		}
	}
	return n
}
