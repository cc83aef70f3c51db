package helen

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// walk reads a list endpoint from path, following its Links, and returns
// every page.
func walk[T any](t *testing.T, c *opsClient, path string) [][]T {
	t.Helper()
	var pages [][]T
	for path != "" {
		if len(pages) > 1000 {
			t.Fatalf("%s: the pages never end", path)
		}
		req, _ := http.NewRequest(http.MethodGet, c.Base+path, nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, body := c.Send(req)
		var items []T
		if err := json.Unmarshal(body, &items); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		pages = append(pages, items)
		path = web.ParseNext(resp.Header.Get("Link"))
	}
	return pages
}

// TestAPIPages: every list endpoint, read two items a page, gives what one
// page of all of them does, and a bad cursor or limit is 400.
func TestAPIPages(t *testing.T) {
	h := startHelen(t, server.Config{})
	for _, name := range []string{"web-1", "web-2"} {
		startAgent(t, h, name, behavior{}).Ready()
	}
	for _, name := range []string{"db-1", "cache", "app-1"} {
		if err := h.srv.DB().AgentSeen(state.Agent{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"load", "disk", "mem"} {
		if _, err := h.srv.PutSchedule(state.Schedule{Name: name, Check: name, Every: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	// Six first results, six events stored; no status changes after.
	poll(t, "an event of every schedule on every agent", func() bool {
		evs, err := h.srv.DB().Events(time.Time{}, time.Time{}, 0)
		return err == nil && len(evs) == 6
	})
	// Lists in time up to now, so that runs meanwhile change nothing.
	until := url.QueryEscape(time.Now().Format(time.RFC3339Nano))
	c := newOpsClient(t, h)

	// back: the pages go back in time, each oldest first (events).
	check := func(path string, back bool, key func(any) string) {
		t.Helper()
		all := walk[map[string]any](t, c, path+"limit=1000")
		if len(all) != 1 {
			t.Fatalf("%s: %d pages of 1000, want 1", path, len(all))
		}
		pages := walk[map[string]any](t, c, path+"limit=2")
		if back {
			slices.Reverse(pages)
		}
		var got, want []string
		for _, p := range pages {
			if len(p) > 2 {
				t.Errorf("%s: a page of %d, want at most 2", path, len(p))
			}
			for _, item := range p {
				got = append(got, key(item))
			}
		}
		for _, item := range all[0] {
			want = append(want, key(item))
		}
		if len(want) < 3 || !slices.Equal(got, want) {
			t.Errorf("%s: pages of 2 give %v, want %v", path, got, want)
		}
	}
	field := func(names ...string) func(any) string {
		return func(item any) string {
			s := ""
			for _, n := range names {
				s += fmt.Sprint(item.(map[string]any)[n]) + " "
			}
			return s
		}
	}
	check("/v1/agents?", false, field("name"))
	check("/v1/status?", false, field("agent", "schedule"))
	check("/v1/schedules?", false, field("name"))
	check("/v1/history?agent=web-1&until="+until+"&", false, field("time", "check"))
	check("/v1/events?until="+until+"&", true, field("time", "agent", "schedule"))
	// The admin socket's lists page alike.
	a, err := dialAdmin(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	for _, path := range []string{"/v1/agents", "/v1/history?agent=web-1"} {
		pages, err := listPages[map[string]any](t.Context(), a, path, 3)
		if n := len(firstOf(pages, 0)); err != nil || n != 3 {
			t.Errorf("%s: %d items, %v; want 3", path, n, err)
		}
	}

	for _, path := range []string{
		"/v1/agents?cursor=%25", "/v1/status?cursor=bad", "/v1/schedules?cursor=%25",
		"/v1/history?agent=web-1&cursor=bad", "/v1/events?cursor=AAAA", "/v1/status?limit=0", "/v1/events?limit=x",
	} {
		code, body := c.Do(http.MethodGet, path, c.Token, nil)
		if code != http.StatusBadRequest || !isJSONError(body) {
			t.Errorf("GET %s: %d %s, want 400 and an error", path, code, body)
		}
	}
}

// TestCLIPages: the helen commands follow the pages to what was asked,
// past one page.
func TestCLIPages(t *testing.T) {
	h := startHelen(t, server.Config{})
	db := h.srv.DB()
	now := time.Now()
	evs := make([]state.Event, 2500)
	for i := range evs {
		evs[i] = state.Event{Time: now.Add(-time.Duration(2500-i) * time.Millisecond), Agent: "bulk", From: "up", To: "down", Message: fmt.Sprint(i)}
	}
	if err := db.AddEvents(evs...); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 1500 {
		wg.Go(func() {
			r := state.Result{Agent: "bulk", Check: "c", Time: now.Add(-time.Duration(1500-i) * time.Millisecond), Status: "ok", Message: fmt.Sprint(i)}
			if err := db.AddResult(t.Context(), r); err != nil {
				t.Error(err)
			}
		})
	}
	for i := range 1100 {
		wg.Go(func() {
			if err := db.AgentSeen(state.Agent{Name: fmt.Sprintf("agent-%04d", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	data := "--data=" + h.dir

	out, code := helenCLI(t, "events", data, "--since=1h", "--limit=2200", "--json")
	var gotEvs []state.Event
	if err := json.Unmarshal([]byte(out), &gotEvs); err != nil || code != 0 {
		t.Fatalf("events: exit %d, %v", code, err)
	}
	// The newest 2200, oldest first.
	if len(gotEvs) != 2200 || gotEvs[0].Message != "300" || gotEvs[2199].Message != "2499" {
		t.Fatalf("events: %d, from %q to %q; want 2200 from 300 to 2499", len(gotEvs), gotEvs[0].Message, gotEvs[len(gotEvs)-1].Message)
	}
	for i := 1; i < len(gotEvs); i++ {
		if gotEvs[i].Time.Before(gotEvs[i-1].Time) {
			t.Fatalf("events: %d before %d", i, i-1)
		}
	}

	out, code = helenCLI(t, "history", data, "--limit=1200", "--json", "bulk")
	var rs []state.Result
	if err := json.Unmarshal([]byte(out), &rs); err != nil || code != 0 {
		t.Fatalf("history: exit %d, %v", code, err)
	}
	// The newest 1200, newest first.
	if len(rs) != 1200 || rs[0].Message != "1499" || rs[1199].Message != "300" {
		t.Fatalf("history: %d, from %q to %q; want 1200 from 1499 to 300", len(rs), rs[0].Message, rs[len(rs)-1].Message)
	}

	out, code = helenCLI(t, "agents", data, "--json")
	var agents []web.AgentView
	if err := json.Unmarshal([]byte(out), &agents); err != nil || code != 0 || len(agents) != 1100 {
		t.Fatalf("agents: exit %d, %d agents, %v; want 1100", code, len(agents), err)
	}
	out, code = helenCLI(t, "agents", data)
	if n := strings.Count(out, "\n"); code != 0 || n != 1101 {
		t.Fatalf("agents: exit %d, %d lines; want a header and 1100", code, n)
	}
}
