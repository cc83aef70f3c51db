package equus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/backoff"
	"github.com/equus-monitoring/equus/wire"
)

// inOrder keeps the rotation's order as given, so a test knows which
// helen the agent dials first.
func inOrder(r *rotation) { r.shuffle = func(int, func(i, j int)) {} }

// refusing returns an address of 127.0.0.1 where nothing listens: a dial
// to it is refused.
func refusing(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestRotation follows the addresses the agent dials: a name counts once
// for each of its addresses, verified by the name; one that does not
// resolve is dialed as it is; a round tries each once, and the next
// begins with another than the last; an accepted session begins a new
// round; addresses a helen named are tried first, those tried in the
// round never again, at most MaxHelens in a round.
func TestRotation(t *testing.T) {
	r := newRotation([]string{"10.0.0.1:7480", "helens.example:7480", "gone.example:7480", "10.0.0.1:7480"})
	inOrder(r)
	var lookups []string
	r.lookup = func(_ context.Context, host string) ([]string, error) {
		lookups = append(lookups, host)
		if host == "helens.example" {
			return []string{"10.0.0.2", "10.0.0.3", "2001:db8::4"}, nil
		}
		return nil, errors.New("no such host")
	}
	ctx := context.Background()
	dial := func(n int) []string {
		var got []string
		for range n {
			got = append(got, r.next(ctx).String())
		}
		return got
	}
	first := []string{"10.0.0.1:7480", "helens.example(10.0.0.2:7480)", "helens.example(10.0.0.3:7480)",
		"helens.example([2001:db8::4]:7480)", "gone.example:7480"}
	if got := dial(5); !slices.Equal(got, first) || !r.over() {
		t.Fatalf("first round %q (over %v), want %q, over", got, r.over(), first)
	}
	if len(lookups) != 2 {
		t.Errorf("looked up %q, want each name once a round", lookups)
	}
	// The last dialed goes last in the next round.
	if got := dial(1); got[0] != first[0] || r.over() {
		t.Errorf("second round begins with %q, want %q", got, first[0])
	}
	if got := r.next(ctx); got.serverName != "helens.example" || got.dial != "10.0.0.2:7480" {
		t.Errorf("resolved address %+v, want dialed by address, verified by name", got)
	}

	// Accepted: a new round, the helen of the session last.
	r.accepted()
	if got := dial(5); got[4] != "helens.example(10.0.0.2:7480)" || got[0] != "10.0.0.1:7480" {
		t.Errorf("after a session with 10.0.0.2, the round %q", got)
	}

	// A helen at its bound names others: those first, once, not the
	// tried ones, nor what is no HOST:PORT.
	r.accepted()
	r.next(ctx) // 10.0.0.1
	r.elsewhere([]string{"h9.example:7480", "10.0.0.1:7480", "bad", "h9.example:7480", "h8.example:7480"})
	if got := dial(2); !slices.Equal(got, []string{"h9.example:7480", "h8.example:7480"}) {
		t.Errorf("after try_elsewhere, dialed %q", got)
	}
	r.elsewhere([]string{"h8.example:7480", "h9.example:7480"})
	if got := r.next(ctx).String(); got != "helens.example(10.0.0.3:7480)" {
		t.Errorf("named again in the round, dialed %q, want the round's next", got)
	}
	var many []string
	for i := range 3 * MaxHelens {
		many = append(many, fmt.Sprintf("h%d.example:7480", 100+i))
	}
	r.elsewhere(many)
	r.elsewhere(many)
	if n := len(r.left); n != MaxHelens-2+3 {
		t.Errorf("%d addresses left in the round, want %d named (MaxHelens in a round) and the round's 3", n, MaxHelens-2+3)
	}

	// Reconnecting after a reload stays with the same helen.
	cur := r.next(ctx)
	r.again()
	if got := r.next(ctx); got != cur {
		t.Errorf("again: dialed %v, want %v", got, cur)
	}

	big := newRotation([]string{"big.example:1"})
	big.lookup = func(context.Context, string) ([]string, error) {
		var ips []string
		for i := range 40 {
			ips = append(ips, fmt.Sprintf("10.0.1.%d", i))
		}
		return ips, nil
	}
	if n := len(big.resolve(ctx)); n != MaxHelens {
		t.Errorf("a name of 40 addresses gives %d, want MaxHelens", n)
	}
}

// TestFailoverWaits follows the waits of an agent of three helens: each
// is tried once under the same ceiling before the backoff doubles; a
// helen at its bound sends the agent on within elsewhereJitter while the
// round has another, and when every helen of the round sent it away, it
// backs off; with one helen every failure backs off as it always did.
func TestFailoverWaits(t *testing.T) {
	ctx := context.Background()
	refused := outcome{end: endUnreachable}
	elsewhere := outcome{end: endError, message: string(wire.CodeTryElsewhere)}
	rs := &backoff.Restart{}
	bo := &backoff.Exponential{Min: time.Second, Max: time.Minute} // no jitter: each wait its ceiling
	three := newRotation([]string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"})
	var waits []time.Duration
	for range 7 {
		three.next(ctx)
		waits = append(waits, retryWait(bo, rs, three, refused))
	}
	want := []time.Duration{time.Second, time.Second, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second, 4 * time.Second}
	if !slices.Equal(waits, want) {
		t.Errorf("refused by three helens, waits %v, want %v", waits, want)
	}

	bo.Reset()
	bo.Min, bo.Max = time.Hour, time.Hour
	three.accepted()
	three.next(ctx)
	if w := retryWait(bo, rs, three, elsewhere); w > elsewhereJitter {
		t.Errorf("sent elsewhere with two helens untried: wait %v, want at most %v", w, elsewhereJitter)
	}
	three.next(ctx)
	if w := retryWait(bo, rs, three, elsewhere); w > elsewhereJitter {
		t.Errorf("sent elsewhere with one helen untried: wait %v", w)
	}
	three.next(ctx)
	if w := retryWait(bo, rs, three, elsewhere); w != time.Hour {
		t.Errorf("sent elsewhere by all three: wait %v, want the backoff", w)
	}

	one := newRotation([]string{"10.0.0.1:1"})
	bo = &backoff.Exponential{Min: time.Second, Max: time.Minute}
	waits = waits[:0]
	for _, o := range []outcome{refused, elsewhere, refused} {
		one.next(ctx)
		waits = append(waits, retryWait(bo, rs, one, o))
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}; !slices.Equal(waits, want) {
		t.Errorf("one helen: waits %v, want %v", waits, want)
	}
}

// An agent given three helens, of which the first two refuse
// connections, reaches the third, having tried each.
func TestTwoHelensRefuse(t *testing.T) {
	checkGoroutines(t)
	p := newTestPKI(t)
	h := startHelen(t, p)
	cfg := testConfig(t, p, h)
	gone1, gone2 := refusing(t), refusing(t)
	cfg.Helens = []string{gone1, gone2, h.addr()}
	cfg.onRotation = inOrder
	a := startAgent(t, cfg)
	hc := h.accept()
	hc.send(wire.Check("equus.ping", 1, nil))
	parseResult(t, hc.next(), 1, "equus.ping")
	for _, gone := range []string{gone1, gone2} {
		if !a.log.contains("helen=" + gone) {
			t.Errorf("the agent did not try %s", gone)
		}
	}
}

// An agent whose helen ends the session dials its other helen, not the
// same one, even with a backoff of an hour: when the helen is killed (the
// connection breaks) and when it says shutting_down.
func TestHelenEndsSession(t *testing.T) {
	for _, end := range []string{"killed", "shutting_down"} {
		t.Run(end, func(t *testing.T) {
			checkGoroutines(t)
			p := newTestPKI(t)
			first, second := startHelen(t, p), startHelen(t, p)
			cfg := testConfig(t, p, first)
			cfg.Helens = []string{first.addr(), second.addr()}
			cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour
			cfg.onRotation = inOrder
			startAgent(t, cfg)
			hc := first.accept()
			hc.send(wire.Check("equus.ping", 1, nil))
			parseResult(t, hc.next(), 1, "equus.ping")
			if end == "killed" {
				hc.c.Close()
			} else {
				hc.send(wire.Error(wire.CodeShuttingDown))
			}
			hc2 := second.accept()
			hc2.send(wire.Check("equus.ping", 2, nil))
			parseResult(t, hc2.next(), 2, "equus.ping")
			select {
			case <-first.conns:
				t.Error("the agent dialed the helen that ended its session again")
			default:
			}
		})
	}
}

// A helen at its bound sends the agent elsewhere: with a backoff of an
// hour, it dials the helen named in try_elsewhere, which it was not
// given, at once; and, when none is named, the next of its own.
func TestTryElsewhere(t *testing.T) {
	for _, named := range []bool{true, false} {
		t.Run(fmt.Sprintf("named-%v", named), func(t *testing.T) {
			checkGoroutines(t)
			p := newTestPKI(t)
			full, other := startHelen(t, p), startHelen(t, p)
			cfg := testConfig(t, p, full)
			cfg.Helens = []string{full.addr()}
			var addrs []string
			if named {
				addrs = []string{"bad address", other.addr()}
			} else {
				cfg.Helens = append(cfg.Helens, other.addr())
			}
			cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour
			cfg.onRotation = inOrder
			a := startAgent(t, cfg)
			hc := full.accept()
			hc.send(wire.TryElsewhere(addrs))
			hc.waitClosed()
			hc2 := other.accept()
			hc2.send(wire.Check("equus.ping", 1, nil))
			parseResult(t, hc2.next(), 1, "equus.ping")
			if !a.log.contains("helen at its bound of sessions sends this agent elsewhere") {
				t.Error("the agent did not say why it went elsewhere")
			}
		})
	}
}

// A --helen list is at most MaxHelens, each HOST:PORT; EQUUS_HELEN takes
// a list separated by commas.
func TestHelensConfig(t *testing.T) {
	p := newTestPKI(t)
	good := Config{Version: "0.0.0-dev", CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, DataDir: t.TempDir()}
	var many []string
	for i := range MaxHelens + 1 {
		many = append(many, fmt.Sprintf("h%d:7480", i))
	}
	for _, tt := range []struct {
		helens []string
		want   string
	}{
		{[]string{"a:7480", "b:7480"}, ""},
		{many[:MaxHelens], ""},
		{many, "at most 16"},
		{[]string{"a:7480", "b"}, `--helen "b": want HOST:PORT`},
		{[]string{"a:0"}, "not a number from 1 to 65535"},
	} {
		cfg := good
		cfg.Helens = tt.helens
		err := cfg.validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--helen %q: %v, want %q", tt.helens, err, tt.want)
		}
	}
	insecure := Config{Version: "1.0.0", Helens: []string{"127.0.0.1:1", "10.0.0.1:1"}, InsecurePlaintext: true}
	if err := insecure.validate(); err == nil || !strings.Contains(err.Error(), "10.0.0.1:1 is not a loopback") {
		t.Errorf("--insecure-plaintext with a helen elsewhere: %v", err)
	}
	if got := listOf([]string{"a:1, b:2", "", "c:3"}); !slices.Equal(got, []string{"a:1", "b:2", "c:3"}) {
		t.Errorf("listOf: %q", got)
	}
}

// --helen is taken more than once, and from EQUUS_HELEN as a list
// separated by commas. (The config file's list: e2e's
// TestBootstrapHelens.)
func TestHelensFromCLI(t *testing.T) {
	data := t.TempDir()
	common := []string{"--ca-pin", testPin, "--token", "tok", "--name", "web-9", "--data", data}
	cfg, err := runCLI(t, nil, append([]string{"--helen", "h1:7480", "--helen", "h2:7480, h3:7480"}, common...)...)
	if err != nil || !slices.Equal(cfg.Helens, []string{"h1:7480", "h2:7480", "h3:7480"}) {
		t.Errorf("--helen twice: %q, %v", cfg.Helens, err)
	}
	cfg, err = runCLI(t, map[string]string{"EQUUS_HELEN": "h1:7480,h2:7480"}, common...)
	if err != nil || !slices.Equal(cfg.Helens, []string{"h1:7480", "h2:7480"}) {
		t.Errorf("EQUUS_HELEN: %q, %v", cfg.Helens, err)
	}
	if _, err := runCLI(t, nil, append([]string{"--helen", "h1:7480,nope"}, common...)...); err == nil || !strings.Contains(err.Error(), `--helen "nope": want HOST:PORT`) {
		t.Errorf("a bad one among them: %v", err)
	}
}
