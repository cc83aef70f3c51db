package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/modes/helen/peerlog"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

func TestResultFloodLog(t *testing.T) {
	const flood = 100000
	const msg = "dropped a result with no check outstanding"
	clock := newFakeClock()
	var out logtest.Buffer
	h := startHelen(t, Config{Log: slog.New(slog.NewJSONHandler(&out, nil)), logClock: clock.Now})
	a := startAgent(t, h, "flood", behavior{})
	a.Ready()
	blob := result.Doc{Status: result.OK, Message: "x"}.Encode(wire.MaxBlob)
	for i := range flood {
		a.Send(wire.Result(int32(1<<30+i), "load", blob))
	}
	dropped := func() int { return int(gathered(t, h.srv.metrics.reg, "helen_results_dropped_total")) }
	poll(t, "the flood to be dropped", func() bool { return dropped() >= flood })
	lines := out.Lines(t)
	if got := len(logtest.WithMsg(lines, msg)); got != peerlog.Lines {
		t.Fatalf("%d results dropped made %d lines, want %d", flood, got, peerlog.Lines)
	}
	if len(lines) > 50 {
		t.Errorf("%d lines in all: %v", len(lines), lines)
	}

	clock.Step(peerlog.Window)
	a.Send(wire.Result(1<<30-1, "load", blob))
	poll(t, "one more result to be dropped", func() bool { return dropped() >= flood+1 })
	lines = out.Lines(t)
	if got := logtest.SuppressedCount(lines, msg); got != flood-peerlog.Lines {
		t.Errorf("suppressed count %d, want %d: %v", got, flood-peerlog.Lines, logtest.WithMsg(lines, "suppressed similar lines"))
	}
	for _, l := range logtest.WithMsg(lines, "suppressed similar lines") {
		if l["agent"] != "flood" {
			t.Errorf("summary without the agent's name: %v", l)
		}
	}
	if got := len(logtest.WithMsg(lines, msg)); got != peerlog.Lines+1 {
		t.Errorf("after the window: %d lines, want %d", got, peerlog.Lines+1)
	}
	if a.Closed() {
		t.Error("helen closed the agent: dropping late results is no protocol error")
	}
}

// TestEnrollFloodLog: refused enrollments from one client make a handful
// of lines, and one that counts the rest.
func TestEnrollFloodLog(t *testing.T) {
	const flood = 300
	const msg = "enrollment refused"
	clock := newFakeClock()
	var out logtest.Buffer
	h := startHelen(t, Config{Log: slog.New(slog.NewJSONHandler(&out, nil)), logClock: clock.Now})
	hc := httpsClient(t, h, nil)
	csr, _ := newCSR(t, "intruder")
	for range flood {
		if code, _ := enroll(t, hc, h, "no-such-token", csr); code != http.StatusUnauthorized {
			t.Fatalf("enrollment with a wrong token: %d", code)
		}
	}
	lines := out.Lines(t)
	if got := len(logtest.WithMsg(lines, msg)); got != peerlog.Lines {
		t.Fatalf("%d refused enrollments made %d lines, want %d", flood, got, peerlog.Lines)
	}
	clock.Step(peerlog.Window)
	enroll(t, hc, h, "no-such-token", csr)
	if got := logtest.SuppressedCount(out.Lines(t), msg); got != flood-peerlog.Lines {
		t.Errorf("suppressed count %d, want %d", got, flood-peerlog.Lines)
	}
}

// TestRenewFloodLog: an agent asking again and again for a renewal it may
// not have yet makes a handful of lines, and one that counts the rest.
func TestRenewFloodLog(t *testing.T) {
	const flood = 300
	const msg = "certificate renewal refused"
	clock := newFakeClock()
	var out logtest.Buffer
	h := startHelen(t, Config{Log: slog.New(slog.NewJSONHandler(&out, nil)), logClock: clock.Now})
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
	lines := out.Lines(t)
	if got := len(logtest.WithMsg(lines, msg)); got != peerlog.Lines {
		t.Fatalf("%d refused renewals made %d lines, want %d", flood, got, peerlog.Lines)
	}
	clock.Step(peerlog.Window)
	renew()
	lines = out.Lines(t)
	if got := logtest.SuppressedCount(lines, msg); got != flood-peerlog.Lines {
		t.Errorf("suppressed count %d, want %d", got, flood-peerlog.Lines)
	}
	for _, l := range logtest.WithMsg(lines, "suppressed similar lines") {
		if l["peer"] != "renewer" {
			t.Errorf("summary without the agent's name: %v", l)
		}
	}
}
