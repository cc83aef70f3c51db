package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/result"
)

// The cluster's test: three helens on one PostgreSQL database, thirty
// real agents that know all three, and one helen SIGKILLed and started
// again.

const (
	clusterHelens    = 3
	clusterAgents    = 30
	clusterDownAfter = 8 * time.Second
	// clusterEvery is the interval of the test's schedule.
	clusterEvery = time.Second
)

// clusterHelen is one helen of the cluster: its id, agents' address and
// data directory, kept so that it starts again as itself.
type clusterHelen struct {
	*helen
	id, listen string
}

// startClusterHelen runs `helen serve` as helen id on the store at url,
// its agents' port on listen (so that it comes back on it), its peer
// listener on a loopback port of its own.
func startClusterHelen(t *testing.T, url, keyFile, id, listen, data string) *clusterHelen {
	t.Helper()
	args := []string{"helen", "serve", "--listen=" + listen, "--http=", "--data=" + data,
		"--store=" + url, "--store-key-file=" + keyFile, "--helen-id=" + id, "--peer-listen=127.0.0.1:0",
		"--down-after=" + clusterDownAfter.String()}
	h := &helen{proc: startProc(t, id, built[v100], args...), bin: built[v100], data: data}
	h.waitServing(t)
	return &clusterHelen{helen: h, id: id, listen: listen}
}

// kill SIGKILLs the process and waits for it.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// hangingHook is a webhook receiver on loopback (plain HTTP, which helen
// allows to a loopback address) that holds the first notification it is
// sent without answering until its sender goes away, and answers the
// others 200. It keeps those it answered.
type hangingHook struct {
	srv     *httptest.Server
	hung    chan hookNote // the notification held, sent once
	release chan struct{} // closed at the end of the test

	mu       sync.Mutex
	held     bool
	cut      int // held notifications whose sender went away
	answered []hookNote
}

func newHangingHook(t *testing.T) *hangingHook {
	t.Helper()
	wh := &hangingHook{hung: make(chan hookNote, 1), release: make(chan struct{})}
	wh.srv = httptest.NewServer(http.HandlerFunc(wh.serve))
	t.Cleanup(wh.srv.Close)
	t.Cleanup(func() { close(wh.release) }) // before Close, which waits for the handlers
	return wh
}

func (wh *hangingHook) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var n hookNote
	if err == nil {
		err = json.Unmarshal(body, &n)
	}
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "not a notification", http.StatusBadRequest)
		return
	}
	n.Key = r.Header.Get("Idempotency-Key")
	wh.mu.Lock()
	hold := !wh.held
	wh.held = true
	wh.mu.Unlock()
	if hold {
		wh.hung <- n
		select {
		case <-r.Context().Done():
			wh.mu.Lock()
			wh.cut++
			wh.mu.Unlock()
			return
		case <-wh.release:
			http.Error(w, "the test ended", http.StatusServiceUnavailable)
			return
		}
	}
	wh.mu.Lock()
	wh.answered = append(wh.answered, n)
	wh.mu.Unlock()
	io.WriteString(w, "thanks")
}

func (wh *hangingHook) url() string { return wh.srv.URL + "/hook" }

// got returns the notifications answered 200, in order.
func (wh *hangingHook) got() []hookNote {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	return append([]hookNote(nil), wh.answered...)
}

func (wh *hangingHook) cuts() int {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	return wh.cut
}

// clusterDB reads the shared store directly, as the test's witness of
// what the helens wrote.
type clusterDB struct {
	t    *testing.T
	conn *pgx.Conn
}

func openClusterDB(t *testing.T, url string) *clusterDB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &clusterDB{t: t, conn: conn}
}

// pairs runs query, whose rows are two texts, and returns them as a
// map of the first to the second.
func (db *clusterDB) pairs(query string, args ...any) map[string]string {
	db.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := db.conn.Query(ctx, query, args...)
	if err != nil {
		db.t.Fatal(err)
	}
	out := map[string]string{}
	var k, v string
	if _, err := pgx.ForEachRow(rows, []any{&k, &v}, func() error { out[k] = v; return nil }); err != nil {
		db.t.Fatal(err)
	}
	return out
}

// holders returns the helen holding each agent's session now (the
// claims held).
func (db *clusterDB) holders() map[string]string {
	return db.pairs(`SELECT agent, helen FROM claims WHERE held`)
}

// results returns the keys of every result of the schedule on the
// agents, each with its agent.
func (db *clusterDB) results(schedule string) map[string]string {
	return db.pairs(`SELECT r.series || ' ' || r.at || ' ' || r.seq, s.agent FROM results r
		JOIN result_series s ON s.id = r.series WHERE s.schedule = $1`, schedule)
}

// resultCounts returns how many results of the schedule each agent has
// from since until before until.
func (db *clusterDB) resultCounts(schedule string, since, until time.Time) map[string]int {
	out := map[string]int{}
	for k, v := range db.pairs(`SELECT s.agent, count(*)::text FROM results r
		JOIN result_series s ON s.id = r.series WHERE s.schedule = $1 AND r.at >= $2 AND r.at < $3 GROUP BY s.agent`, schedule, since, until) {
		var n int
		fmt.Sscan(v, &n)
		out[k] = n
	}
	return out
}

// agentEvents returns, for each agent, its events of its own (up, down)
// as "from>to" in order, joined by spaces.
func (db *clusterDB) agentEvents() map[string]string {
	return db.pairs(`SELECT agent, string_agg((doc->>'from') || '>' || (doc->>'to'), ' ' ORDER BY ns, seq)
		FROM events WHERE coalesce(doc->>'schedule', '') = '' AND doc->>'to' IN ('up', 'down') GROUP BY agent`)
}

// TestCluster: three helens on one PostgreSQL database, each with a data
// directory, an id and a peer listener of its own, and 30 real agents
// that know all three, enrolled with tokens made on each helen. The
// agents spread over the helens; `helen run` on each helen reaches the
// agents the others hold; a schedule added on one runs on every agent at
// its rate. The helen delivering a notification (an agent SIGKILLed,
// declared down) is SIGKILLed while the webhook holds it: its agents are
// back on the others within the backoff and none is declared down, the
// results stored before the kill are all there, the notification is
// delivered once by another helen, and the agent started again is up
// once. The helen started again beats, takes agents, and forwards.
func TestCluster(t *testing.T) {
	begin := time.Now()
	url := pgtest.DB(t)
	key := make([]byte, 32)
	rand.Read(key)
	keyFile := filepath.Join(t.TempDir(), "store.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	db := openClusterDB(t, url)
	wh := newHangingHook(t)

	helens := make([]*clusterHelen, clusterHelens)
	byID := map[string]*clusterHelen{}
	var addrs []string
	for i := range helens {
		id := fmt.Sprintf("helen-%d", i)
		h := startClusterHelen(t, url, keyFile, id, freeAddr(t), filepath.Join(t.TempDir(), id))
		helens[i], byID[id] = h, h
		addrs = append(addrs, "--helen", h.addr)
		if h.pin != helens[0].pin {
			t.Fatalf("%s's CA pin %s, helen-0's %s: not the shared CA", id, h.pin, helens[0].pin)
		}
	}
	t.Logf("%d helens serving after %s", clusterHelens, time.Since(begin).Round(time.Millisecond))
	helens[0].cli(t, "notify", "add", "--webhook", wh.url(), "all")
	helens[1].cli(t, "schedule", "add", "--check", "file", "--args", `{"path":"/"}`, "--every", clusterEvery.String(), "root")

	// The agents, each with a token of its own from helen i%3, and all
	// three helens in a random order of its own.
	type agentProc struct {
		name, data string
		p          *proc
	}
	startAgent := func(name, data string, extra ...string) *proc {
		args := append([]string{"equus", "--ca-pin", helens[0].pin, "--name", name, "--data", data}, extra...)
		return startProc(t, name, built[v100], args...)
	}
	agents := make([]*agentProc, clusterAgents)
	for i := range agents {
		name := fmt.Sprintf("node-%02d", i)
		a := &agentProc{name: name, data: filepath.Join(t.TempDir(), name)}
		a.p = startAgent(a.name, a.data, append([]string{"--token", helens[i%clusterHelens].token(t).Token}, addrs...)...)
		agents[i] = a
	}
	allHeld := func() map[string]string {
		hs := db.holders()
		for _, a := range agents {
			if _, ok := hs[a.name]; !ok {
				return nil
			}
		}
		return hs
	}
	var holders map[string]string
	poll(t, "every agent held by a helen", time.Minute, func() bool { holders = allHeld(); return holders != nil })
	t.Logf("%d agents held after %s: %v", clusterAgents, time.Since(begin).Round(time.Millisecond), countBy(holders))
	for _, h := range helens {
		if countBy(holders)[h.id] == 0 {
			t.Fatalf("%s holds none of the agents: %v", h.id, countBy(holders))
		}
	}
	// A token made on one helen enrolls on any: the agents enrolled with
	// the helen they dialed first, at random.
	elsewhere := 0
	for i, a := range agents {
		for _, h := range helens {
			if h.count(`msg="agent enrolled" agent=`+a.name+" ") > 0 && h != helens[i%clusterHelens] {
				elsewhere++
			}
		}
	}
	t.Logf("%d agents enrolled on another helen than their token's", elsewhere)
	if elsewhere == 0 {
		t.Errorf("every agent enrolled on the helen that made its token")
	}

	// Every helen lists every agent connected, wherever it is.
	for _, h := range helens {
		poll(t, h.id+" to list every agent connected", 30*time.Second, func() bool {
			out, err := run(t, h.bin, "helen", "agents", "--data", h.data, "--json")
			if err != nil {
				t.Fatal(err)
			}
			var list []agentView
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, a := range list {
				if a.Connected && strings.HasPrefix(a.Name, "node-") {
					n++
				}
			}
			return n == clusterAgents
		})
	}

	// helen run on each helen reaches an agent of each other helen.
	for _, h := range helens {
		for _, other := range helens {
			if other == h {
				continue
			}
			agent := heldBy(holders, other.id)
			if doc := h.runCheck(t, agent, "equus.ping"); doc.Status != result.OK {
				t.Errorf("helen run %s equus.ping on %s (held by %s): %+v", agent, h.id, other.id, doc)
			}
		}
	}

	// The schedule added on helen-1 runs on every agent, at its rate.
	poll(t, "results of the schedule from every agent", 30*time.Second, func() bool {
		return len(db.resultCounts("root", time.Time{}, time.Now().Add(time.Hour))) == clusterAgents
	})
	checkRate(t, db, "before the kills", nil, 4*clusterEvery)

	// An agent SIGKILLed: declared down once its helen held it no more
	// for --down-after, and the notification of it held at the webhook.
	victim := agents[clusterAgents-1]
	victim.p.kill(t)
	var hung hookNote
	select {
	case hung = <-wh.hung:
	case <-time.After(clusterDownAfter + 30*time.Second):
		t.Fatalf("no notification at the webhook %s after %s was killed", clusterDownAfter+30*time.Second, victim.name)
	}
	if hung.Kind != "agent_down" || hung.Agent != victim.name {
		t.Fatalf("the notification held is %+v, want %s's agent_down", hung, victim.name)
	}
	// The helen delivering it, by the store's hold of its group.
	var deliverer string
	poll(t, "the hold of the notification's group", 10*time.Second, func() bool {
		hold := db.pairs(`SELECT agent, claimed_by FROM outbox_groups WHERE agent = $1 AND claimed_by IS NOT NULL`, victim.name)
		deliverer = hold[victim.name]
		return deliverer != ""
	})
	killed := byID[deliverer]
	if killed == nil {
		t.Fatalf("the notification is held by %q, no helen of the test", deliverer)
	}
	before := db.results("root")
	holders = db.holders()
	var moved []string
	for a, h := range holders {
		if h == killed.id {
			moved = append(moved, a)
		}
	}
	sort.Strings(moved)
	t.Logf("killing %s, which delivers %s's agent_down and holds %d agents", killed.id, victim.name, len(moved))
	killedAt := time.Now()
	killed.kill(t)

	// Its agents come back on the others within the backoff.
	poll(t, "the killed helen's agents held by the others", 20*time.Second, func() bool {
		hs := db.holders()
		for _, a := range moved {
			if h, ok := hs[a]; !ok || h == killed.id {
				return false
			}
		}
		return true
	})
	t.Logf("the %d agents of %s held by the others %s after the kill", len(moved), killed.id, time.Since(killedAt).Round(time.Millisecond))
	// Every result stored before the kill is still there.
	after := db.results("root")
	lost := 0
	for k, a := range before {
		if after[k] != a {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of the %d results stored before the kill are gone", lost, len(before))
	}

	// Their schedule kept its rate through the kill: no gap between two
	// of their results around it longer than a few runs.
	gaps := db.pairs(`SELECT s.agent, extract(epoch FROM max(gap))::text FROM (
			SELECT series, at - lag(at) OVER (PARTITION BY series ORDER BY at, seq) AS gap FROM results) g
		JOIN result_series s ON s.id = g.series
		WHERE s.schedule = 'root' AND s.agent = ANY($1) GROUP BY s.agent`, moved)
	for _, a := range moved {
		var sec float64
		fmt.Sscan(gaps[a], &sec)
		if sec <= 0 || sec > 5*clusterEvery.Seconds() {
			t.Errorf("agent %s of the killed helen: its longest gap between two results %q s, want a few runs of %s at most", a, gaps[a], clusterEvery)
		}
	}
	t.Logf("the longest gaps between results of the killed helen's agents, s: %v", gaps)

	// The notification in flight on the killed helen is delivered by
	// another, once.
	poll(t, "the held notification delivered by another helen", 30*time.Second, func() bool {
		return len(of2(wh.got(), hung.ID)) > 0
	})
	t.Logf("%s's agent_down delivered %s after the kill of %s", victim.name, time.Since(killedAt).Round(time.Millisecond), killed.id)
	if wh.cuts() != 1 {
		t.Errorf("the held delivery ended %d times with its sender gone, want once", wh.cuts())
	}

	// The victim started again: up, once; its agent_up delivered once.
	victim.p = startAgent(victim.name, victim.data, addrs...)
	poll(t, victim.name+"'s agent_up at the webhook", 30*time.Second, func() bool {
		return len(of(wh.got(), "agent_up", victim.name, "")) > 0
	})
	// The killed helen's agents stayed up: by now they would be down
	// (--down-after since the kill).
	poll(t, "--down-after since the kill", clusterDownAfter+10*time.Second, func() bool {
		return time.Since(killedAt) > clusterDownAfter+5*time.Second
	})
	checkRate(t, db, "after the kill", map[string]bool{victim.name: true}, 4*clusterEvery)

	// The killed helen started again, on its data and address, as
	// itself: it beats again, takes a new agent, and forwards.
	restarted := startClusterHelen(t, url, keyFile, killed.id, killed.listen, killed.data)
	poll(t, restarted.id+" to beat again", 30*time.Second, func() bool {
		row := db.pairs(`SELECT id, started::text FROM helens WHERE id = $1 AND started > $2 AND beat > now() - interval '5 seconds'`, killed.id, killedAt)
		return row[killed.id] != ""
	})
	late := &agentProc{name: "node-late", data: filepath.Join(t.TempDir(), "node-late")}
	late.p = startAgent(late.name, late.data, "--token", helens[0].token(t).Token, "--helen", restarted.addr)
	poll(t, late.name+" held by "+restarted.id, 30*time.Second, func() bool {
		return db.holders()[late.name] == restarted.id
	})
	// Its claim is made at hello, before its session is registered:
	// the helen holding it answers first.
	poll(t, late.name+" to answer equus.ping on "+restarted.id, 30*time.Second, func() bool {
		return restarted.runCheck(t, late.name, "equus.ping").Status == result.OK
	})
	holders = db.holders()
	for _, h := range helens {
		if h.id == restarted.id {
			h = restarted
		}
		for _, other := range helens {
			if other.id == h.id {
				continue
			}
			agent := heldBy(holders, other.id)
			if other.id == restarted.id {
				agent = late.name
			}
			if doc := h.runCheck(t, agent, "equus.ping"); doc.Status != result.OK {
				t.Errorf("helen run %s equus.ping on %s (held by %s): %+v", agent, h.id, other.id, doc)
			}
		}
	}

	checkRate(t, db, "after the restart", nil, 4*clusterEvery)

	// Down and up were decided once each, for the victim alone.
	events := db.agentEvents()
	for _, a := range append(agents, late) {
		want := ""
		if a == victim {
			want = "up>down down>up"
		}
		if events[a.name] != want {
			t.Errorf("agent %s's events %q, want %q", a.name, events[a.name], want)
		}
	}
	// Each notification answered once: the victim's down and up.
	ids := map[string]int{}
	for _, n := range wh.got() {
		ids[n.ID]++
	}
	got := wh.got()
	if len(got) != 2 || len(of(got, "agent_down", victim.name, "")) != 1 || len(of(got, "agent_up", victim.name, "")) != 1 || len(ids) != 2 {
		t.Errorf("the webhook answered %+v; want %s's agent_down and agent_up, once each", got, victim.name)
	}
	t.Logf("whole test %s", time.Since(begin).Round(time.Millisecond))
}

// checkRate waits for a window of the schedule's interval times n and
// checks that every agent but those of skip ran the schedule at its
// rate meanwhile: at least half its runs, and no more than its runs and
// two (each run once, not by two helens). The results of the window are
// counted once the store has at least half of each agent's (the helens
// write them in batches, a loaded machine later), or after a deadline.
func checkRate(t *testing.T, db *clusterDB, when string, skip map[string]bool, window time.Duration) {
	t.Helper()
	start := time.Now()
	end := start.Add(window)
	poll(t, "a window of the schedule's runs", window+10*time.Second, func() bool { return time.Now().After(end) })
	runs := int(window / clusterEvery)
	var counts map[string]int
	slow := func() []string {
		counts = db.resultCounts("root", start, end)
		var out []string
		for i := range clusterAgents {
			name := fmt.Sprintf("node-%02d", i)
			if n := counts[name]; !skip[name] && n < runs/2 {
				out = append(out, fmt.Sprintf("%s %d times", name, n))
			}
		}
		return out
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(slow()) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if s := slow(); len(s) > 0 {
		t.Errorf("%s: in %s, want about %d runs each: %s", when, window, runs, strings.Join(s, ", "))
	}
	for name, n := range counts {
		if n > runs+2 {
			t.Errorf("%s: agent %s ran the schedule %d times in %s, want about %d", when, name, n, window, runs)
		}
	}
}

// countBy returns how many agents each helen of holders holds.
func countBy(holders map[string]string) map[string]int {
	out := map[string]int{}
	for _, h := range holders {
		out[h]++
	}
	return out
}

// heldBy returns an agent of the test that helen holds.
func heldBy(holders map[string]string, helen string) string {
	var names []string
	for a, h := range holders {
		if h == helen && strings.HasPrefix(a, "node-") {
			names = append(names, a)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// of2 returns the notifications of ns with the id.
func of2(ns []hookNote, id string) []hookNote {
	var out []hookNote
	for _, n := range ns {
		if n.ID == id {
			out = append(out, n)
		}
	}
	return out
}
