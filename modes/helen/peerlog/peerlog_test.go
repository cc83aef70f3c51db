package peerlog

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
	clocktesting "k8s.io/utils/clock/testing"
)

func newFakeClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
}

func TestLogLimiter(t *testing.T) {
	clock := newFakeClock()
	lim := New(nil, clock.Now)
	lim.maxKeys = 3
	var out logtest.Buffer
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
	lines := out.Lines(t)
	if got := len(logtest.WithMsg(lines, "dropped")); got != Lines+3 {
		t.Errorf("in the first window: %d lines of dropped, want %d for a and 3 for b", got, Lines)
	}
	if got := len(logtest.WithMsg(lines, "other line")); got != 1 {
		t.Errorf("another message of a: %d lines, want 1 (its own budget)", got)
	}
	if got := len(logtest.WithMsg(lines, "suppressed similar lines")); got != 0 {
		t.Errorf("a summary before the window closed: %v", lines)
	}

	// The window closes: a's next line comes after one that says how many
	// were held back, with a's attributes.
	clock.Step(Window)
	a.Info("dropped")
	lines = out.Lines(t)
	sums := logtest.WithMsg(lines, "suppressed similar lines")
	if len(sums) != 1 || sums[0]["agent"] != "a" || sums[0]["peer"] != "a" || sums[0]["like"] != "dropped" ||
		sums[0]["suppressed"] != float64(1000-Lines) {
		t.Fatalf("summary: %v", sums)
	}
	if last := lines[len(lines)-1]; last["msg"] != "dropped" {
		t.Errorf("the line after the summary is %v", last)
	}

	// A flood of peers: past maxKeys pairs tracked, the others share one
	// budget, so that new peers cannot multiply it.
	clock.Step(Window)
	out.Reset()
	for i := range 500 {
		peer(fmt.Sprint("p", i)).Info("refused")
	}
	lines = out.Lines(t)
	if got := len(logtest.WithMsg(lines, "refused")); got != lim.maxKeys+Lines {
		t.Errorf("500 peers: %d lines, want %d (one each for %d tracked, %d for the rest)", got, lim.maxKeys+Lines, lim.maxKeys, Lines)
	}
	if len(lim.keys) > lim.maxKeys+1 {
		t.Errorf("%d keys tracked, want at most %d", len(lim.keys), lim.maxKeys+1)
	}

	// Nobody logs again: the sweep says what the window held back, and
	// forgets the keys.
	clock.Step(Window)
	out.Reset()
	writeSummaries(lim.sweep(), clock.Now())
	lines = out.Lines(t)
	if got := logtest.SuppressedCount(lines, ""); got != 500-lim.maxKeys-Lines {
		t.Errorf("swept: %d suppressed of other peers, want %d: %v", got, 500-lim.maxKeys-Lines, lines)
	}
	if len(lim.keys) != 0 {
		t.Errorf("%d keys left after the sweep", len(lim.keys))
	}

	// Stopping says what open windows held back.
	for range Lines + 5 {
		b.Info("late")
	}
	out.Reset()
	writeSummaries(lim.flush(), clock.Now())
	if got := logtest.SuppressedCount(out.Lines(t), "late"); got != 5 {
		t.Errorf("flush: %d suppressed, want 5", got)
	}
}

func TestHTTPErrorLog(t *testing.T) {
	var out logtest.Buffer
	lim := New(slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})), newFakeClock().Now)
	w := lim.HTTPErrorLog().Writer()
	for i := range 100 {
		fmt.Fprintf(w, "http: TLS handshake error from 192.0.2.7:%d: EOF\n", 40000+i)
	}
	fmt.Fprintf(w, "http: TLS handshake error from 192.0.2.8:1: EOF\n")
	lines := logtest.WithMsg(out.Lines(t), "http: TLS handshake error")
	if len(lines) != Lines+1 {
		t.Fatalf("%d lines, want %d for one address and 1 for another", len(lines), Lines+1)
	}
	if lines[0]["remote"] != "192.0.2.7" || lines[0]["err"] != "EOF" || lines[Lines]["remote"] != "192.0.2.8" {
		t.Errorf("lines: %v", lines)
	}
}
