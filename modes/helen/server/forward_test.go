package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/internal/helentest"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// testDirectory says which test helen holds an agent, as the claims of a
// shared store do; the test sets it.
type testDirectory struct {
	mu    sync.Mutex
	held  map[string]*testHelen
	rows  map[string]state.Helen // of agents held by a helen the test makes up
	asked atomic.Int64
}

func (d *testDirectory) setRow(agent string, h state.Helen) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rows == nil {
		d.rows = map[string]state.Helen{}
	}
	d.rows[agent] = h
}

func (d *testDirectory) set(agent string, h *testHelen) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.held[agent] = h
}

func (d *testDirectory) holder(_ context.Context, agent string) (state.Helen, error) {
	d.asked.Add(1)
	d.mu.Lock()
	h, row, made := d.held[agent], d.rows[agent], d.rows[agent].ID != ""
	d.mu.Unlock()
	if made {
		return row, nil
	}
	if h == nil {
		return state.Helen{}, errNoHolder
	}
	return state.Helen{ID: h.srv.ID(), Addr: h.srv.PeerAddr(), Beat: time.Now()}, nil
}

// sharedDataDirs returns n data directories of helens that share one CA,
// each with a database of its own.
func sharedDataDirs(t testing.TB, n int) []string {
	t.Helper()
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
		db, err := state.Open(filepath.Join(dirs[i], DBFile), state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	if _, err := pki.LoadOrCreateCA(dirs[0]); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs[1:] {
		for _, f := range pki.CAFiles() {
			data, err := os.ReadFile(filepath.Join(dirs[0], f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, f), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dirs
}

// startPeers starts helens a and b of one CA, each with its peer listener
// on loopback and its directory.
func startPeers(t testing.TB, cfg Config) (a, b *testHelen, da, db *testDirectory) {
	t.Helper()
	dirs := sharedDataDirs(t, 2)
	da, db = &testDirectory{held: map[string]*testHelen{}}, &testDirectory{held: map[string]*testHelen{}}
	ca, cb := cfg, cfg
	ca.DataDir, ca.HelenID, ca.PeerListen, ca.directory = dirs[0], "helen-a", "127.0.0.1:0", da
	cb.DataDir, cb.HelenID, cb.PeerListen, cb.directory = dirs[1], "helen-b", "127.0.0.1:0", db
	return startHelen(t, ca), startHelen(t, cb), da, db
}

// TestForwardRun: a helen asked for a run, a batch of runs or a reload on
// an agent another helen holds has that helen do it, through the Server
// (the console's call), the admin socket (helen run) and the
// operators' port; the result is stored by the helen holding the agent.
func TestForwardRun(t *testing.T) {
	a, b, da, _ := startPeers(t, Config{})
	agent := startAgent(t, b, "web-1", behavior{})
	agent.Ready()
	da.set("web-1", b)

	doc, err := a.srv.Run(t.Context(), "web-1", "load", []byte(`{"x":1}`), waitFor)
	if err != nil || doc.Status != result.OK {
		t.Fatalf("run through helen-a: %+v %v", doc, err)
	}
	if rs, _ := b.srv.DB().History("web-1", "load", 0, time.Time{}, time.Time{}); len(rs) != 1 {
		t.Errorf("helen-b stored %d results, want 1", len(rs))
	}
	if rs, _ := a.srv.DB().History("web-1", "load", 0, time.Time{}, time.Time{}); len(rs) != 0 {
		t.Errorf("helen-a stored %d results, want none", len(rs))
	}

	sock := adminFor(t, a)
	var got result.Doc
	if err := sock.do(t.Context(), "POST", "/v1/agents/web-1/run", web.RunRequest{Check: "load"}, &got); err != nil || got.Status != result.OK {
		t.Fatalf("helen run on helen-a's admin socket: %+v %v", got, err)
	}
	var outs []web.RunOutcome
	runs := web.RunsRequest{Runs: []web.RunRequest{{Check: "load"}, {Check: "disk"}, {Check: "load"}}}
	before := da.asked.Load()
	if err := sock.do(t.Context(), "POST", "/v1/agents/web-1/runs", runs, &outs); err != nil || len(outs) != 3 {
		t.Fatalf("runs: %+v %v", outs, err)
	}
	for i, o := range outs {
		if o.Result == nil || o.Result.Status != result.OK {
			t.Errorf("run %d: %+v", i, o)
		}
	}
	if n := da.asked.Load() - before; n != 1 {
		t.Errorf("a batch of 3 runs asked who holds the agent %d times, want once (forwarded whole)", n)
	}
	ops := newOpsClient(t, a)
	if code, body := ops.Do("POST", "/v1/agents/web-1/run", ops.Token, web.RunRequest{Check: "load"}); code != http.StatusOK || !strings.Contains(string(body), `"status": "ok"`) {
		t.Errorf("run on helen-a's operators' port: %d %s", code, body)
	}
	if rs, _ := b.srv.DB().History("web-1", "load", 0, time.Time{}, time.Time{}); len(rs) != 5 {
		t.Errorf("helen-b stored %d results of load, want 5", len(rs))
	}

	if err := a.srv.Reload(t.Context(), "web-1"); err != nil {
		t.Fatalf("reload through helen-a: %v", err)
	}
	poll(t, "the agent to get reload", func() bool {
		ms := agent.Received()
		return len(ms) > 0 && ms[len(ms)-1].Kind == wire.KindReload
	})
}

// TestForwardNoHolder: an agent no live helen holds is not connected, in
// the same words as on a helen alone.
func TestForwardNoHolder(t *testing.T) {
	a, _, _, _ := startPeers(t, Config{})
	_, err := a.srv.Run(t.Context(), "web-9", "load", nil, waitFor)
	if !errors.Is(err, ErrNotConnected) || err.Error() != "helen: agent not connected: web-9" {
		t.Fatalf("run on an agent held by none: %v", err)
	}
	if err := a.srv.Reload(t.Context(), "web-9"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("reload on an agent held by none: %v", err)
	}
	ops := newOpsClient(t, a)
	code, body := ops.Do("POST", "/v1/agents/web-9/run", ops.Token, web.RunRequest{Check: "load"})
	if code != http.StatusNotFound || !strings.Contains(string(body), "agent not connected: web-9") {
		t.Errorf("operators' port: %d %s", code, body)
	}
}

// TestForwardNoLoop: a helen asked by another for an agent it does not
// hold says so and forwards no further, though its own directory points
// back (a claim that moved meanwhile).
func TestForwardNoLoop(t *testing.T) {
	a, b, da, db := startPeers(t, Config{})
	da.set("web-1", b)
	db.set("web-1", a)
	_, err := a.srv.Run(t.Context(), "web-1", "load", nil, waitFor)
	if !errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), "helen helen-b, asked by another helen, holds no session of it and forwards no further") {
		t.Fatalf("run: %v", err)
	}
	if err := a.srv.Reload(t.Context(), "web-1"); !errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), "forwards no further") {
		t.Fatalf("reload: %v", err)
	}
	sock := adminFor(t, a)
	var outs []web.RunOutcome
	err = sock.do(t.Context(), "POST", "/v1/agents/web-1/runs", web.RunsRequest{Runs: []web.RunRequest{{Check: "load"}}}, &outs)
	if err != nil || len(outs) != 1 || !strings.Contains(outs[0].Error, "forwards no further") {
		t.Fatalf("runs: %+v %v", outs, err)
	}
	if n := db.asked.Load(); n != 0 {
		t.Errorf("helen-b asked its directory %d times for calls from a peer", n)
	}
}

// TestForwardShell: a shell session opened on a helen that does not hold
// the agent is relayed by it to the one that does, which records it.
func TestForwardShell(t *testing.T) {
	a, b, da, _ := startPeers(t, Config{})
	helentest.StartShellAgent(t, b, "web1", helentest.ShellBehavior{Serve: helentest.EchoShell})
	da.set("web1", b)
	c, br, code, msg := openShell(t, a, "web1", web.ShellRequest{Command: []string{"sh", "-c", "cat"}, TTY: true, Cols: 80, Rows: 24, Term: "xterm"}, true)
	if c == nil {
		t.Fatalf("open through helen-a: %d %s", code, msg)
	}
	echoSession(t, c, br)
	poll(t, "helen-b to record the session's end", func() bool { return len(eventsOf(t, b, EventSessionEnd)) == 1 })
	if n := len(eventsOf(t, a, EventSessionStart)); n != 0 {
		t.Errorf("helen-a recorded %d sessions", n)
	}
	poll(t, "helen-a's slot back", func() bool { return len(a.srv.shellSlots) == 0 })

	// A refusal by the helen holding the agent is passed on as it said it.
	helentest.StartShellAgent(t, b, "web2", helentest.ShellBehavior{Refuse: "shell sessions are off"})
	da.set("web2", b)
	if c, _, code, msg := openShell(t, a, "web2", web.ShellRequest{}, true); c != nil || code != http.StatusConflict || !strings.Contains(msg, "shell sessions are off") {
		t.Errorf("refused session: %v %d %s", c, code, msg)
	}
}

// TestPeerListener: the peer listener takes a helen's peer certificate of
// its CA, and no other; it serves the endpoints that need an agent's live
// session and no other.
func TestPeerListener(t *testing.T) {
	a, _, _, _ := startPeers(t, Config{})
	other, err := pki.NewCA("another", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := a.srv.CA().IssuePeer("helen-c", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	strange, err := other.IssuePeer("helen-c", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	client := func(cert *tls.Certificate) *http.Client {
		cfg := pki.PeerClientConfig(a.srv.CA(), peer, "helen-a", nil)
		cfg.Certificates = nil
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	post := func(c *http.Client, method, path string) (int, string, error) {
		req, _ := http.NewRequest(method, "https://"+a.srv.PeerAddr()+path, strings.NewReader(`{"check":"load"}`))
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	for name, cert := range map[string]*tls.Certificate{
		"agent":           agentCert(t, a.srv, "web-1"),
		"none":            nil,
		"another-ca":      &strange,
		"server-of-helen": &a.srv.cert,
	} {
		if code, body, err := post(client(cert), "POST", "/v1/agents/web-1/run"); err == nil {
			t.Errorf("%s certificate: answered %d %s", name, code, body)
		}
	}
	c := client(&peer)
	code, body, err := post(c, "POST", "/v1/agents/web-1/run")
	if err != nil || code != http.StatusNotFound || !strings.Contains(body, "forwards no further") {
		t.Errorf("run of an agent not held: %d %s %v", code, body, err)
	}
	for _, p := range []string{"GET /v1/agents", "POST /v1/tokens", "POST /v1/agents/web-1/certificate", "GET /metrics"} {
		method, path, _ := strings.Cut(p, " ")
		if code, body, err := post(c, method, path); err != nil || code != http.StatusNotFound {
			t.Errorf("%s on the peer listener: %d %s %v", p, code, body, err)
		}
	}
}

// TestPeerListenerOff: a helen on a store of its own listens for no peer
// unless told to, and makes no peer certificate.
func TestPeerListenerOff(t *testing.T) {
	h := startHelen(t, Config{})
	if h.ls.Peer != nil || h.srv.PeerAddr() != "" {
		t.Errorf("a peer listener at %s", h.srv.PeerAddr())
	}
	if _, err := os.Stat(filepath.Join(h.dir, "peer.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("peer certificate: %v", err)
	}
	// Bad settings are refused before anything is made.
	for _, cfg := range []Config{
		{PeerListen: "127.0.0.1:0", HelenID: "a..b"},
		{PeerListen: "127.0.0.1:0", HelenID: "a", PeerAdvertise: "nowhere"},
		{PeerListen: "127.0.0.1:0", HelenID: "a", PeerAdvertise: "*.example.com:7482"},
	} {
		cfg.DataDir = filepath.Join(t.TempDir(), "helen")
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), "--helen-id") && !strings.Contains(err.Error(), "--peer-advertise") {
			t.Errorf("%+v: %v", cfg, err)
		}
		if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%+v: made the data directory (%v)", cfg, err)
		}
	}
}

// TestForwardConsoleRun: the console's run now on a helen that does not
// hold the agent runs the check on the helen that does.
func TestForwardConsoleRun(t *testing.T) {
	a, b, da, _ := startPeers(t, Config{})
	agent := startAgent(t, b, "web-1", behavior{})
	agent.Ready()
	da.set("web-1", b)
	if _, err := a.srv.PutSchedule(state.Schedule{Name: "load", Check: "load", Every: time.Hour, Agents: "db-*"}); err != nil {
		t.Fatal(err)
	}
	c := browser(t, a)
	cookie, csrf := c.Login()
	resp, body := c.Page(http.MethodPost, "/agents/web-1/schedules/load/run", url.Values{"csrf": {csrf}}, cookie)
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "not connected") {
		t.Fatalf("run now: %d %.300s", resp.StatusCode, body)
	}
	if n := agent.CountChecks("load"); n != 1 {
		t.Errorf("the agent on helen-b ran load %d times, want 1", n)
	}
}

// TestForwardReusesConnection: the forwarded runs to a helen go over one
// connection, kept between them.
func TestForwardReusesConnection(t *testing.T) {
	a, b, da, _ := startPeers(t, Config{})
	startAgent(t, b, "web-1", behavior{}).Ready()
	da.set("web-1", b)
	var conns, reused atomic.Int64
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		conns.Add(1)
		if i.Reused {
			reused.Add(1)
		}
	}})
	for range 5 {
		if _, err := a.srv.Run(ctx, "web-1", "load", nil, waitFor); err != nil {
			t.Fatal(err)
		}
	}
	if conns.Load() != 5 || reused.Load() != 4 {
		t.Errorf("%d connections got, %d of them reused; want 5 and 4", conns.Load(), reused.Load())
	}
}

// TestForwardBound: past MaxForwarded calls in flight a forwarded call
// waits for a slot, until its context ends.
func TestForwardBound(t *testing.T) {
	p := newPeers("helen-a", &testDirectory{held: map[string]*testHelen{}}, nil, tls.Certificate{})
	var releases []func()
	for range MaxForwarded {
		release, err := p.acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := p.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "512 calls forwarded") {
		t.Fatalf("acquire past the bound: %v", err)
	}
	releases[0]()
	release, err := p.acquire(t.Context())
	if err != nil {
		t.Fatalf("acquire once a slot is free: %v", err)
	}
	release()
}

// TestForwardUnreachable: a helen that does not answer, or answers with
// the peer certificate of another helen than the one the claim names,
// leaves the agent out of reach: not connected, saying why.
func TestForwardUnreachable(t *testing.T) {
	a, b, da, _ := startPeers(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	da.setRow("gone", state.Helen{ID: "helen-gone", Addr: closed, Beat: time.Now()})
	// helen-b answers at the address of helen-x.
	da.setRow("moved", state.Helen{ID: "helen-x", Addr: b.srv.PeerAddr(), Beat: time.Now()})
	for agent, why := range map[string]string{"gone": "connection refused", "moved": "certificate is valid for helen-b.helen.equus.invalid, not helen-x.helen.equus.invalid"} {
		_, err := a.srv.Run(t.Context(), agent, "load", nil, waitFor)
		if !errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), "did not answer") || !strings.Contains(err.Error(), why) {
			t.Errorf("run on %s: %v; want not connected, %q", agent, err, why)
		}
		if err := a.srv.Reload(t.Context(), agent); !errors.Is(err, ErrNotConnected) {
			t.Errorf("reload of %s: %v", agent, err)
		}
		if c, _, code, msg := openShell(t, a, agent, web.ShellRequest{}, true); c != nil || code != http.StatusConflict || !strings.Contains(msg, why) {
			t.Errorf("shell on %s: %d %s", agent, code, msg)
		}
	}
}

// TestForwardHostilePeer: what a helen of the CA answers is read within
// bounds: a run's answer past maxRunAnswer, or a refusal past
// maxPeerError, is cut there.
func TestForwardHostilePeer(t *testing.T) {
	a, _, da, _ := startPeers(t, Config{})
	cert, err := a.srv.CA().IssuePeer("helen-evil", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64 // bytes the hostile peer wrote
	endless := func(w http.ResponseWriter, status int) {
		w.WriteHeader(status)
		buf := []byte(strings.Repeat(" ", 64<<10))
		for {
			n, err := w.Write(buf)
			served.Add(int64(n))
			if err != nil {
				return
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/agents/big/run", func(w http.ResponseWriter, r *http.Request) { endless(w, http.StatusOK) })
	mux.HandleFunc("POST /v1/agents/refused/run", func(w http.ResponseWriter, r *http.Request) { endless(w, http.StatusNotFound) })
	evil := httptest.NewUnstartedServer(mux)
	evil.TLS = pki.PeerServerConfig(a.srv.CA(), cert, []string{"h2", "http/1.1"})
	evil.EnableHTTP2 = true
	evil.Config.ErrorLog = log.New(io.Discard, "", 0)
	evil.StartTLS()
	defer evil.Close()
	row := state.Helen{ID: "helen-evil", Addr: evil.Listener.Addr().String(), Beat: time.Now()}
	da.setRow("big", row)
	da.setRow("refused", row)

	if _, err := a.srv.Run(t.Context(), "big", "load", nil, waitFor); err == nil || !strings.Contains(err.Error(), "helen helen-evil's answer") {
		t.Errorf("an endless answer: %v", err)
	}
	_, err = a.srv.Run(t.Context(), "refused", "load", nil, waitFor)
	if !errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), "404") {
		t.Errorf("an endless refusal: %v", err)
	}
	// What was read is within the bounds, and what the peer wrote past
	// them is what the connection's buffers took before it was reset.
	if n := served.Load(); n > maxRunAnswer+maxPeerError+16<<20 {
		t.Errorf("the hostile peer wrote %d bytes", n)
	}
}

// TestForwardEndsAtShutdown: a run forwarded and waiting for its answer
// ends when the helen forwarding it stops, rather than holding its stop
// for the run's timeout.
func TestForwardEndsAtShutdown(t *testing.T) {
	a, b, da, _ := startPeers(t, Config{})
	agent := startAgent(t, b, "web-1", behavior{Silent: map[string]bool{"slow": true}})
	agent.Ready()
	da.set("web-1", b)
	errc := make(chan error, 1)
	go func() {
		_, err := a.srv.Run(context.Background(), "web-1", "slow", nil, time.Hour)
		errc <- err
	}()
	poll(t, "the agent to get the slow check", func() bool { return agent.CountChecks("slow") == 1 })
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("the run forwarded when helen-a stopped: %v", err)
		}
	case <-time.After(waitFor):
		// The run would end with the test's helen-b.
		t.Fatalf("the run forwarded still waits %v after helen-a stopped", waitFor)
	}
}
