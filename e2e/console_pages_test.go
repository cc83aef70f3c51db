package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/equus-monitoring/equus/internal/browsertest"
	"github.com/equus-monitoring/equus/state"
)

// TestConsolePages drives a real browser through the console's pages and
// actions: the overview filtered in its URL, an agent's page, a
// schedule's page with its graph, a silence and an acknowledgement made
// from the pages (and seen by the CLI and the API), a check run now; each
// page at a phone's and a laptop's width.
//
// What it relies on of the pages, by id and name: on the overview, the
// filter in the query (agent, status) and links to /agents/NAME; on an
// agent's page, links to /agents/NAME/schedules/SCHEDULE; on a
// schedule's page, range links (?range=1h), the graph svg[role="img"]
// with a polyline whose points draw the series, and the forms
// form#silence (inputs "for" and "comment"), form#ack (input "comment")
// and form#run-now, after which #ran shows the result's status; every
// form carries the session's token in an input "csrf".
func TestConsolePages(t *testing.T) {
	ctx := browsertest.Tab(t)
	h := startConsoleHelen(t)
	h.withHistory(t)
	h.login(t, ctx)

	// The overview, filtered in its URL: the problem, not the rest.
	if code := h.open(t, ctx, "/?agent="+agentName+"&status=critical"); code != http.StatusOK {
		t.Fatalf("the filtered overview: %d", code)
	}
	page := text(t, ctx, "main")
	if !strings.Contains(page, "file-gone") || strings.Contains(page, "file-log") {
		t.Errorf("the overview filtered on critical: want file-gone and not file-log:\n%s", page)
	}
	browsertest.Check(t, ctx, "overview-filtered")

	// The agent's page, from the overview's link.
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(`a[href="/agents/`+agentName+`"]`)); err != nil {
		t.Fatalf("the agent's link: %v", err)
	}
	page = text(t, ctx, "main")
	for _, want := range []string{agentName, v100, "file-log", "file-gone"} {
		if !strings.Contains(page, want) {
			t.Errorf("the agent's page does not show %q:\n%s", want, page)
		}
	}
	browsertest.Check(t, ctx, "agent")

	// The schedule's page and its graph: an SVG with points.
	sched := "/agents/" + agentName + "/schedules/file-log"
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(`a[href="`+sched+`"]`)); err != nil {
		t.Fatalf("the schedule's link: %v", err)
	}
	if code := h.open(t, ctx, sched+"?range=1h"); code != http.StatusOK {
		t.Fatalf("%s?range=1h: %d", sched, code)
	}
	points, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`Math.max(0, ...[...document.querySelectorAll('svg[role="img"] polyline')].map(p => p.points.numberOfItems))`))
	if err != nil {
		t.Fatal(err)
	}
	if points < 2 {
		t.Errorf("the graph of file-log over 1h draws %d points, want a line of 2 or more", points)
	}
	browsertest.Check(t, ctx, "schedule")

	// Run it now: the page shows the result.
	if code := post(t, ctx, "form#run-now", ""); code != http.StatusOK {
		t.Errorf("run now: %d", code)
	}
	if got := text(t, ctx, "#ran"); !strings.Contains(strings.ToLower(got), "ok") {
		t.Errorf("run now shows %q, want file-log's ok result", got)
	}

	// A silence of file-gone from its page: `helen silence list` has it.
	gone := "/agents/" + agentName + "/schedules/file-gone"
	h.open(t, ctx, gone)
	if code := post(t, ctx, "form#silence", `document.querySelector('form#silence [name="for"]').value = '1h';
		document.querySelector('form#silence [name="comment"]').value = 'disk replaced from the console'`); code != http.StatusOK {
		t.Errorf("silence: %d", code)
	}
	var silences []state.Silence
	if err := json.Unmarshal([]byte(h.cli(t, "silence", "list", "--json")), &silences); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range silences {
		found = found || s.Comment == "disk replaced from the console" && s.Author == "admin"
	}
	if !found {
		t.Errorf("helen silence list: %+v; want the console's silence by admin", silences)
	}

	// An acknowledgement of it, with a comment: the API has it.
	h.open(t, ctx, gone)
	if code := post(t, ctx, "form#ack", `document.querySelector('form#ack [name="comment"]').value = 'on it'`); code != http.StatusOK {
		t.Errorf("acknowledge: %d", code)
	}
	if code, body := h.get(t, "/v1/acks"); code != http.StatusOK || !strings.Contains(body, "on it") {
		t.Errorf("/v1/acks: %d %s; want the console's acknowledgement", code, body)
	}
	if page := text(t, ctx, "main"); !strings.Contains(page, "on it") {
		t.Errorf("file-gone's page does not show its acknowledgement:\n%s", page)
	}
	browsertest.Check(t, ctx, "schedule-acked")

	for _, p := range []string{"/events", "/notifications"} {
		if code := h.open(t, ctx, p); code != http.StatusOK {
			t.Errorf("%s: %d", p, code)
		}
		browsertest.Check(t, ctx, strings.TrimPrefix(p, "/"))
	}

	// A form of the console without the session's token is refused.
	h.open(t, ctx, gone)
	if code := post(t, ctx, "form#ack", `document.querySelector('form#ack [name="csrf"]').remove()`); code != http.StatusForbidden {
		t.Errorf("acknowledge without the session's token: %d, want 403", code)
	}
}

// text returns the text of the element of the tab's page that sel
// selects, failing the test if there is none within 10 s.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("the text of %s: %v", sel, err)
	}
	return s
}
