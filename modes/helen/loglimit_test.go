package helen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// fakeClock is a clock that moves only when the test moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer is a log handler's output, as JSON lines, kept for a test to
// read. It is safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the records written, decoded.
func (b *logBuffer) lines(t testing.TB) []map[string]any {
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

// withMsg returns the lines whose message is msg.
func withMsg(lines []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// suppressedCount adds up what the "suppressed similar lines" lines about
// msg say.
func suppressedCount(lines []map[string]any, msg string) int {
	n := 0
	for _, l := range withMsg(lines, "suppressed similar lines") {
		if like, _ := l["like"].(string); like == msg {
			n += int(l["suppressed"].(float64))
		}
	}
	return n
}

func TestLogLimiter(t *testing.T) {
	clock := newFakeClock()
	lim := newLogLimiter(clock.now)
	lim.maxKeys = 3
	var out logBuffer
	base := slog.New(slog.NewJSONHandler(&out, nil))
	peer := func(p string) *slog.Logger {
		return slog.New(limitedHandler{Handler: base.Handler(), lim: lim, peer: p}).With("agent", p)
	}

	a, b := peer("a"), peer("b")
	for range 1000 {
		a.Info("dropped")
	}
	for range 3 {
		b.Info("dropped")
	}
	a.Info("other line")
	lines := out.lines(t)
	if got := len(withMsg(lines, "dropped")); got != logLines+3 {
		t.Errorf("in the first window: %d lines of dropped, want %d for a and 3 for b", got, logLines)
	}
	if got := len(withMsg(lines, "other line")); got != 1 {
		t.Errorf("another message of a: %d lines, want 1 (its own budget)", got)
	}
	if got := len(withMsg(lines, "suppressed similar lines")); got != 0 {
		t.Errorf("a summary before the window closed: %v", lines)
	}

	// The window closes: a's next line comes after one that says how many
	// were held back, with a's attributes.
	clock.advance(logWindow)
	a.Info("dropped")
	lines = out.lines(t)
	sums := withMsg(lines, "suppressed similar lines")
	if len(sums) != 1 || sums[0]["agent"] != "a" || sums[0]["peer"] != "a" || sums[0]["like"] != "dropped" ||
		sums[0]["suppressed"] != float64(1000-logLines) {
		t.Fatalf("summary: %v", sums)
	}
	if last := lines[len(lines)-1]; last["msg"] != "dropped" {
		t.Errorf("the line after the summary is %v", last)
	}

	// A flood of peers: past maxKeys pairs tracked, the others share one
	// budget, so that new peers cannot multiply it.
	clock.advance(logWindow)
	out.buf.Reset()
	for i := range 500 {
		peer(fmt.Sprint("p", i)).Info("refused")
	}
	lines = out.lines(t)
	if got := len(withMsg(lines, "refused")); got != lim.maxKeys+logLines {
		t.Errorf("500 peers: %d lines, want %d (one each for %d tracked, %d for the rest)", got, lim.maxKeys+logLines, lim.maxKeys, logLines)
	}
	if len(lim.keys) > lim.maxKeys+1 {
		t.Errorf("%d keys tracked, want at most %d", len(lim.keys), lim.maxKeys+1)
	}

	// Nobody logs again: the sweep says what the window held back, and
	// forgets the keys.
	clock.advance(logWindow)
	out.buf.Reset()
	writeSummaries(lim.sweep(), clock.now())
	lines = out.lines(t)
	if got := suppressedCount(lines, ""); got != 500-lim.maxKeys-logLines {
		t.Errorf("swept: %d suppressed of other peers, want %d: %v", got, 500-lim.maxKeys-logLines, lines)
	}
	if len(lim.keys) != 0 {
		t.Errorf("%d keys left after the sweep", len(lim.keys))
	}

	// Stopping says what open windows held back.
	for range logLines + 5 {
		b.Info("late")
	}
	out.buf.Reset()
	writeSummaries(lim.flush(), clock.now())
	if got := suppressedCount(out.lines(t), "late"); got != 5 {
		t.Errorf("flush: %d suppressed, want 5", got)
	}
}

func TestHTTPErrorLog(t *testing.T) {
	var out logBuffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})), logLim: newLogLimiter(newFakeClock().now)}
	w := httpErrorLog{s}
	for i := range 100 {
		fmt.Fprintf(w, "http: TLS handshake error from 192.0.2.7:%d: EOF\n", 40000+i)
	}
	fmt.Fprintf(w, "http: TLS handshake error from 192.0.2.8:1: EOF\n")
	lines := withMsg(out.lines(t), "http: TLS handshake error")
	if len(lines) != logLines+1 {
		t.Fatalf("%d lines, want %d for one address and 1 for another", len(lines), logLines+1)
	}
	if lines[0]["remote"] != "192.0.2.7" || lines[0]["err"] != "EOF" || lines[logLines]["remote"] != "192.0.2.8" {
		t.Errorf("lines: %v", lines)
	}
}

// TestResultFloodLog: an agent sending a hundred thousand results for no
// check makes helen write a handful of lines, and one that counts the rest
// once the window closes.
func TestResultFloodLog(t *testing.T) {
	const flood = 100000
	const msg = "dropped a result with no check outstanding"
	clock := newFakeClock()
	var out logBuffer
	h := startHelen(t, Config{Log: slog.New(slog.NewJSONHandler(&out, nil)), logClock: clock.now})
	a := startAgent(t, h, "flood", behavior{})
	a.ready()
	blob := result.Doc{Status: result.OK, Message: "x"}.Encode(wire.MaxBlob)
	for i := range flood {
		a.send(wire.Result(int32(1<<30+i), "load", blob))
	}
	dropped := func() int { return int(counterValue(t, h.srv.metrics.resultsDropped)) }
	poll(t, "the flood to be dropped", func() bool { return dropped() >= flood })
	lines := out.lines(t)
	if got := len(withMsg(lines, msg)); got != logLines {
		t.Fatalf("%d results dropped made %d lines, want %d", flood, got, logLines)
	}
	if len(lines) > 50 {
		t.Errorf("%d lines in all: %v", len(lines), lines)
	}

	clock.advance(logWindow)
	a.send(wire.Result(1<<30-1, "load", blob))
	poll(t, "one more result to be dropped", func() bool { return dropped() >= flood+1 })
	lines = out.lines(t)
	if got := suppressedCount(lines, msg); got != flood-logLines {
		t.Errorf("suppressed count %d, want %d: %v", got, flood-logLines, withMsg(lines, "suppressed similar lines"))
	}
	for _, l := range withMsg(lines, "suppressed similar lines") {
		if l["agent"] != "flood" {
			t.Errorf("summary without the agent's name: %v", l)
		}
	}
	if got := len(withMsg(lines, msg)); got != logLines+1 {
		t.Errorf("after the window: %d lines, want %d", got, logLines+1)
	}
	if a.closed() {
		t.Error("helen closed the agent: dropping late results is no protocol error")
	}
}

// TestEnrollFloodLog: refused enrollments from one client make a handful
// of lines, and one that counts the rest.
func TestEnrollFloodLog(t *testing.T) {
	const flood = 300
	const msg = "enrollment refused"
	clock := newFakeClock()
	var out logBuffer
	h := startHelen(t, Config{Log: slog.New(slog.NewJSONHandler(&out, nil)), logClock: clock.now})
	hc := httpsClient(t, h, nil)
	csr, _ := newCSR(t, "intruder")
	for range flood {
		if code, _ := enroll(t, hc, h, "no-such-token", csr); code != http.StatusUnauthorized {
			t.Fatalf("enrollment with a wrong token: %d", code)
		}
	}
	lines := out.lines(t)
	if got := len(withMsg(lines, msg)); got != logLines {
		t.Fatalf("%d refused enrollments made %d lines, want %d", flood, got, logLines)
	}
	clock.advance(logWindow)
	enroll(t, hc, h, "no-such-token", csr)
	if got := suppressedCount(out.lines(t), msg); got != flood-logLines {
		t.Errorf("suppressed count %d, want %d", got, flood-logLines)
	}
}

// TestRenewFloodLog: an agent asking again and again for a renewal it may
// not have yet makes a handful of lines, and one that counts the rest.
func TestRenewFloodLog(t *testing.T) {
	const flood = 300
	const msg = "certificate renewal refused"
	clock := newFakeClock()
	var out logBuffer
	h := startHelen(t, Config{Log: slog.New(slog.NewJSONHandler(&out, nil)), logClock: clock.now})
	cert := issued(t, h, "renewer", time.Now())
	hc := httpsClient(t, h, &cert)
	csr, _ := newCSR(t, "renewer")
	renew := func() int {
		t.Helper()
		body, err := json.Marshal(pki.RenewRequest{CSR: string(csr)})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Post("https://"+h.addr()+"/v1/renew", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := renew(); code != http.StatusOK {
		t.Fatalf("first renewal: %d", code)
	}
	for range flood {
		if code := renew(); code != http.StatusTooManyRequests {
			t.Fatalf("renewal too soon: %d", code)
		}
	}
	lines := out.lines(t)
	if got := len(withMsg(lines, msg)); got != logLines {
		t.Fatalf("%d refused renewals made %d lines, want %d", flood, got, logLines)
	}
	clock.advance(logWindow)
	renew()
	lines = out.lines(t)
	if got := suppressedCount(lines, msg); got != flood-logLines {
		t.Errorf("suppressed count %d, want %d", got, flood-logLines)
	}
	for _, l := range withMsg(lines, "suppressed similar lines") {
		if l["peer"] != "renewer" {
			t.Errorf("summary without the agent's name: %v", l)
		}
	}
}
