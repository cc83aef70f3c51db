package equus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// gateArgs returns the args of the gate check: it waits for the file gate.
func gateArgs(t *testing.T, gate, tag string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"gate": gate, "tag": tag})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openGate(t *testing.T, gate string) {
	t.Helper()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// parseResult checks that m is a result for id and name and returns its
// document.
func parseResult(t *testing.T, m wire.Message, id int32, name string) result.Doc {
	t.Helper()
	if m.Kind != wire.KindResult || m.ID != id || m.Name != name {
		t.Fatalf("got %s %d %s, want result %d %s", m.Kind, m.ID, m.Name, id, name)
	}
	var d result.Doc
	if err := json.Unmarshal(m.Blob, &d); err != nil {
		t.Fatalf("result %d: %v in %q", id, err, m.Blob)
	}
	return d
}

func TestHelloBytes(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	for _, v := range []string{"0.0.0-dev", "v1.4.2", "1.5.0-rc.1"} {
		t.Run(v, func(t *testing.T) {
			h := startHelen(t, p)
			cfg := testConfig(t, p, h)
			cfg.Version = v
			startAgent(t, cfg)
			hc := h.accept()
			if got, want := string(hc.hello), "hello 1 "+v+"\n"; got != want {
				t.Errorf("hello = %q, want %q", got, want)
			}
		})
	}
}

func TestResultsOutOfOrder(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	startAgent(t, testConfig(t, p, h))
	hc := h.accept()
	gate := filepath.Join(t.TempDir(), "gate")
	hc.send(
		wire.Check("gate", 1, gateArgs(t, gate, "slow")),
		wire.Check("fast", 2, nil),
	)
	if d := parseResult(t, hc.next(), 2, "fast"); d.Status != result.OK || d.Message != "fast" {
		t.Errorf("fast: %+v", d)
	}
	openGate(t, gate)
	if d := parseResult(t, hc.next(), 1, "gate"); d.Status != result.OK || d.Message != "slow" {
		t.Errorf("gate: %+v", d)
	}
}

func TestManyChecksInFlight(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	cfg.Concurrency = 8 // fewer slots than checks: some wait, none is dropped
	startAgent(t, cfg)
	hc := h.accept()
	gate := filepath.Join(t.TempDir(), "gate")
	const n = 100
	var checks []wire.Message
	for id := int32(1); id <= n; id++ {
		name := "gate"
		if id%3 == 0 {
			name = "fast"
		}
		checks = append(checks, wire.Check(name, id, gateArgs(t, gate, fmt.Sprint("tag-", id))))
	}
	hc.send(checks...)
	seen := map[int32]bool{}
	// The fast checks answer while the gate is closed, as far as slots
	// allow; then the gate opens for the rest.
	m := hc.next()
	openGate(t, gate)
	for {
		name := "gate"
		if m.ID%3 == 0 {
			name = "fast"
		}
		d := parseResult(t, m, m.ID, name)
		if seen[m.ID] {
			t.Fatalf("result %d twice", m.ID)
		}
		seen[m.ID] = true
		if want := fmt.Sprint("tag-", m.ID); d.Status != result.OK || d.Message != want {
			t.Errorf("result %d: %+v, want ok %s", m.ID, d, want)
		}
		if len(seen) == n {
			break
		}
		m = hc.next()
	}
	// Nothing more is owed: the next result is the ping's.
	hc.send(wire.Check("equus.ping", n+1, nil))
	if d := parseResult(t, hc.next(), n+1, "equus.ping"); d.Status != result.OK {
		t.Errorf("ping: %+v", d)
	}
}

func TestBuiltinsAndUnknown(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	startAgent(t, testConfig(t, p, h))
	hc := h.accept()

	hc.send(wire.Check("equus.ping", 1, nil))
	if d := parseResult(t, hc.next(), 1, "equus.ping"); d.Status != result.OK || d.Message != "pong" {
		t.Errorf("ping: %+v", d)
	}

	hc.send(wire.Check("equus.info", 2, nil))
	d := parseResult(t, hc.next(), 2, "equus.info")
	var in info
	if err := json.Unmarshal([]byte(d.Message), &in); err != nil {
		t.Fatalf("info message %q: %v", d.Message, err)
	}
	if d.Status != result.OK || in.Version != "0.0.0-dev" || in.Protocol != 1 || in.OS == "" || in.Arch == "" || len(in.BundleHash) != 64 || in.UptimeS < 0 {
		t.Errorf("info: %+v %+v", d, in)
	}

	hc.send(wire.Check("equus.checks", 3, nil))
	d = parseResult(t, hc.next(), 3, "equus.checks")
	var list []checkEntry
	if err := json.Unmarshal([]byte(d.Message), &list); err != nil {
		t.Fatalf("checks message %q: %v", d.Message, err)
	}
	var names []string
	for _, c := range list {
		names = append(names, c.Name)
		if c.Name == "gate" && c.Description != "waits for the file args.gate" {
			t.Errorf("gate's description: %q", c.Description)
		}
	}
	for _, want := range []string{"equus.ping", "equus.info", "equus.checks", "gate", "fast"} {
		if !slices.Contains(names, want) {
			t.Errorf("equus.checks lists %v, without %s", names, want)
		}
	}

	for i, name := range []string{"no-such-check", "equus.nope"} {
		id := int32(10 + i)
		hc.send(wire.Check(name, id, nil))
		if d := parseResult(t, hc.next(), id, name); d.Status != result.Unknown || d.Message == "" {
			t.Errorf("%s: %+v, want unknown with a reason", name, d)
		}
	}
	hc.send(wire.Check("fast", 12, []byte("not json")))
	if d := parseResult(t, hc.next(), 12, "fast"); d.Status != result.Unknown {
		t.Errorf("bad args: %+v, want unknown", d)
	}
}

func TestInsecurePlaintext(t *testing.T) {
	checkGoroutines(t)
	h := startHelen(t, nil)
	a := startAgent(t, testConfig(t, nil, h))
	hc := h.accept()
	if got := string(hc.hello); got != "hello 1 0.0.0-dev\n" {
		t.Errorf("hello = %q", got)
	}
	hc.send(wire.Check("equus.ping", 1, nil))
	parseResult(t, hc.next(), 1, "equus.ping")
	if !a.log.contains("INSECURE") {
		t.Error("no warning about plaintext in the log")
	}
}
