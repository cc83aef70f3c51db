package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// BenchmarkDashboardRender renders a full page: 500 statuses, 500 agents
// and 25 events, the most the page shows.
func BenchmarkDashboardRender(b *testing.B) {
	now := time.Now()
	page := dashboardPage{LoggedIn: true, Version: "1.0.0", Now: now, Refresh: dashboardRefresh, Agents: 1000, Connected: 990,
		Counts: map[string]int{"ok": 3990, "warning": 6, "critical": 4}}
	for i := range dashboardRows {
		name := fmt.Sprintf("web-%04d", i)
		page.Statuses = append(page.Statuses, statusLine{StatusView: monitor.StatusView{Status: state.Status{Agent: name, Schedule: "disk", Check: "disk", Status: "ok",
			Since: now.Add(-time.Hour), Time: now, Message: "/ 20.4% used (18.5 GiB of 252.0 GiB)", StateType: state.Hard, Attempt: 1, MaxAttempts: 1}}})
		page.AgentList = append(page.AgentList, web.AgentView{Agent: state.Agent{Name: name, Version: "1.0.0", Addr: "10.0.0.1:40000",
			Connected: true, FirstSeen: now.Add(-24 * time.Hour), LastSeen: now}})
	}
	for range dashboardEvents {
		page.Events = append(page.Events, state.Event{Time: now, Agent: "web-0001", Schedule: "load", From: "ok", To: "warning", Message: "load 4.2"})
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := dashboardTemplate().Execute(&buf, page); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len())/1024, "KiB/page")
}

// A status's long output on the page is bounded, cut on a character.
func TestDashboardLongBound(t *testing.T) {
	long := strings.Repeat("é", dashboardLongOutput) // two bytes a character
	got := dashboardLong(long)
	if !strings.HasPrefix(got, long[:dashboardLongOutput]) || !strings.Contains(got, "equus helen history --long") || len(got) > dashboardLongOutput+100 {
		t.Errorf("dashboardLong of %d bytes: %d bytes, ending %q", len(long), len(got), got[len(got)-80:])
	}
	if short := "a\nb"; dashboardLong(short) != short {
		t.Errorf("dashboardLong(%q) = %q", short, dashboardLong(short))
	}
}

// storeBackend is the backend of a dashboard over a store alone: the
// status list as the store has it, what the helen commands show when no
// helen runs. The page asks nothing else of a backend.
type storeBackend struct {
	web.Backend
	db state.Store
}

func (b storeBackend) Statuses(unfold bool) []monitor.StatusView {
	v, _ := monitor.StoredStatuses(b.db, unfold)
	return v
}

// dashboardOver returns the handler of a dashboard over a real store in
// a fresh bbolt file, and the store; get asks it for a page with the
// bearer token.
func dashboardOver(t *testing.T) (*state.DB, func(path string) (int, string)) {
	t.Helper()
	db, err := state.Open(filepath.Join(t.TempDir(), "helen.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const token = "eqa_dashboardtest"
	h := New(Config{Log: slog.New(slog.DiscardHandler), Token: token, Version: "1.0.0"}, db, storeBackend{db: db}).Handler()
	return db, func(path string) (int, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
}

// section returns the part of page under the heading h2, up to the next.
func section(t *testing.T, page, h2 string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, "<h2>"+h2+"</h2>")
	if !ok {
		t.Fatalf("no section %q in the page", h2)
	}
	s, _, _ := strings.Cut(rest, "<h2>")
	return s
}

// rows counts the lines of the tables of a part of a page.
func rows(s string) int { return strings.Count(s, "<tr>") - strings.Count(s, "<thead><tr>") }

// hostile is what an operator or an agent could put in a comment, a
// schedule's name or a message to reach the page's HTML.
const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>`

// TestDashboardAlerting: the page marks each problem of the status list
// soft or hard with its attempts, flapping, silenced (by whom, until
// when, the comment in its title) and acknowledged (by whom, the
// comment); it lists the silences in force and the acknowledgements, and
// the outbox's deliveries with their counts by state and the age of the
// oldest open one; everything from the store escaped.
func TestDashboardAlerting(t *testing.T) {
	db, get := dashboardOver(t)
	now := time.Now().Truncate(time.Second)
	sts := []state.Status{
		{Agent: "web-1", Schedule: "disk", Check: "disk", Status: "critical", Since: now.Add(-time.Hour), Time: now, Message: "disk full " + hostile,
			StateType: state.Hard, Attempt: 3, MaxAttempts: 3, HardStatus: "critical"},
		{Agent: "web-2", Schedule: hostile, Check: "load", Status: "warning", Since: now.Add(-time.Minute), Time: now, Message: "load 4",
			StateType: state.Soft, Attempt: 1, MaxAttempts: 3, HardStatus: "ok"},
		{Agent: "db-1", Schedule: "ping", Check: "ping", Status: "ok", Since: now, Time: now, Message: "pong",
			StateType: state.Hard, Attempt: 1, MaxAttempts: 1, HardStatus: "ok", FlapPercent: 41.5, Flapping: true},
	}
	if err := db.PutStatuses(sts...); err != nil {
		t.Fatal(err)
	}
	sl, err := db.AddSilence(state.Silence{Agents: "web-*", Schedules: "disk", End: now.Add(2 * time.Hour), Comment: "swap " + hostile,
		Author: "<b>alice</b>", Created: now})
	if err != nil {
		t.Fatal(err)
	}
	// One to come, not in force: neither listed nor marked.
	if _, err := db.AddSilence(state.Silence{Agents: "db-*", Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), Comment: "later", Created: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.Ack(state.Ack{Agent: "web-2", Schedule: hostile, Author: "bob", Comment: "on it " + hostile, Time: now}); err != nil {
		t.Fatal(err)
	}
	// Four deliveries, one in each state, each of its own group.
	doc := func(kind string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"kind":%q,"status":"critical"}`, kind))
	}
	var outs []state.Outgoing
	for i, sch := range []string{"a", "b", "c", "d"} {
		outs = append(outs, state.Outgoing{Route: "ops", Receiver: 0, Doc: doc("problem"), Agent: "web-1", Schedule: sch, Created: now.Add(time.Duration(i-10) * time.Minute)})
	}
	if err := db.AddEventsWithNotifications(state.EventNotifications{Notify: outs}); err != nil {
		t.Fatal(err)
	}
	due, err := db.NextDue(now, 0)
	if err != nil || len(due) != 4 {
		t.Fatalf("NextDue: %d, %v", len(due), err)
	}
	bySchedule := map[string]state.Notification{}
	for _, n := range due {
		bySchedule[n.Schedule] = n
	}
	record := func(sch string, a state.Attempt, o state.Outcome, next time.Time) {
		if err := db.RecordAttempt(bySchedule[sch].ID, a, o, next); err != nil {
			t.Fatal(err)
		}
	}
	record("b", state.Attempt{Time: now, Error: "500 " + hostile}, state.Retry, now.Add(time.Hour))
	record("c", state.Attempt{Time: now, Answer: "ok"}, state.Delivered, time.Time{})
	record("d", state.Attempt{Time: now, Error: "refused for good"}, state.GiveUp, time.Time{})
	db.Release(bySchedule["a"].ID)

	code, page := get("/")
	if code != http.StatusOK {
		t.Fatalf("GET /: %d %s", code, page)
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "<img") || strings.Contains(page, "<b>alice") {
		t.Errorf("the page holds HTML from the store unescaped:\n%s", page)
	}
	status := section(t, page, "Status")
	line := func(agent string) string {
		t.Helper()
		for _, tr := range strings.Split(status, "<tr")[1:] {
			if strings.Contains(tr, "<td>"+agent+"</td>") {
				return tr
			}
		}
		t.Fatalf("no status line of %s in:\n%s", agent, status)
		return ""
	}
	for agent, wants := range map[string][]string{
		"web-1": {">hard 3/3<", "silenced by &lt;b&gt;alice&lt;/b&gt; until " + sl.End.Local().Format("2006-01-02 15:04:05"),
			`title="swap &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"`, "disk full &lt;script&gt;"},
		"web-2": {">soft 1/3<", "acknowledged by bob", "on it &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "<td>&lt;script&gt;alert(&#34;x&#34;)"},
		"db-1":  {`title="42% of the last results changed">flapping<`},
	} {
		tr := line(agent)
		for _, w := range wants {
			if !strings.Contains(tr, w) {
				t.Errorf("status line of %s lacks %q:\n%s", agent, w, tr)
			}
		}
	}
	if tr := line("db-1"); strings.Contains(tr, "silenced") || strings.Contains(tr, "soft") || strings.Contains(tr, "hard") {
		t.Errorf("the ok line of db-1 marked as a problem or silenced:\n%s", tr)
	}
	if tr := line("web-2"); strings.Contains(tr, "silenced") {
		t.Errorf("web-2's line silenced by a silence of another schedule:\n%s", tr)
	}

	if s := section(t, page, "Silences in force"); rows(s) != 1 || !strings.Contains(s, sl.ID) || !strings.Contains(s, "swap &lt;script&gt;") {
		t.Errorf("silences in force: %d rows, want %s alone:\n%s", rows(s), sl.ID, s)
	}
	if s := section(t, page, "Acknowledgements"); rows(s) != 1 || !strings.Contains(s, "bob") || !strings.Contains(s, "on it &lt;script&gt;") {
		t.Errorf("acknowledgements: %d rows:\n%s", rows(s), s)
	}
	n := section(t, page, "Notifications")
	for _, w := range []string{"<b>1</b> pending", "<b>1</b> retrying", "<b>1</b> delivered", "<b>1</b> expired", "oldest open <b", "500 &lt;script&gt;"} {
		if !strings.Contains(n, w) {
			t.Errorf("notifications lack %q:\n%s", w, n)
		}
	}
	if rows(n) != 4 {
		t.Errorf("notifications: %d rows, want 4", rows(n))
	}
	// Newest first: d was made last.
	if i, j := strings.Index(n, "<td>d</td>"), strings.Index(n, "<td>a</td>"); i < 0 || j < 0 || i > j {
		t.Errorf("deliveries not newest first: d at %d, a at %d", i, j)
	}

	code, page = get("/notifications?state=retrying")
	n = section(t, page, "Notifications")
	if code != http.StatusOK || rows(n) != 1 || !strings.Contains(n, `<td class="retrying">retrying</td>`) || !strings.Contains(n, "500 &lt;script&gt;") {
		t.Errorf("retrying: %d, %d rows:\n%s", code, rows(n), n)
	}
	for _, bad := range []string{"/notifications?state=%3Cb%3Elost", "/notifications?cursor=nonsense"} {
		code, page = get(bad)
		if code != http.StatusBadRequest || !strings.Contains(page, "No such page") || strings.Contains(page, "<b>lost") {
			t.Errorf("GET %s: %d, want 400 saying so", bad, code)
		}
	}
}

// TestDashboardAlertingBounds: the page lists at most dashboardSilences
// silences and dashboardAcks acknowledgements, saying how many more, and
// the newest dashboardDeliveries deliveries; /notifications pages through
// every delivery notificationsPage at a time, newest first, each once.
func TestDashboardAlertingBounds(t *testing.T) {
	db, get := dashboardOver(t)
	now := time.Now()
	for i := range dashboardSilences + 3 {
		if _, err := db.AddSilence(state.Silence{Agents: fmt.Sprintf("web-%d", i), End: now.Add(time.Hour + time.Duration(i)*time.Second), Comment: "x", Created: now}); err != nil {
			t.Fatal(err)
		}
		if err := db.Ack(state.Ack{Agent: fmt.Sprintf("web-%d", i), Schedule: "disk", Comment: "y", Time: now}); err != nil {
			t.Fatal(err)
		}
	}
	const total = 2*notificationsPage + 7
	var outs []state.Outgoing
	for i := range total {
		outs = append(outs, state.Outgoing{Route: "ops", Doc: json.RawMessage(`{"kind":"problem"}`), Agent: "web-1",
			Schedule: fmt.Sprintf("s%03d", i), Created: now.Add(time.Duration(i-total) * time.Second)})
	}
	if err := db.AddEventsWithNotifications(state.EventNotifications{Notify: outs}); err != nil {
		t.Fatal(err)
	}

	_, page := get("/")
	if s := section(t, page, "Silences in force"); rows(s) != dashboardSilences || !strings.Contains(s, "And 3 more") {
		t.Errorf("silences: %d rows, want %d and 3 more", rows(s), dashboardSilences)
	}
	if s := section(t, page, "Acknowledgements"); rows(s) != dashboardAcks || !strings.Contains(s, "And 3 more") {
		t.Errorf("acks: %d rows, want %d and 3 more", rows(s), dashboardAcks)
	}
	if s := section(t, page, "Notifications"); rows(s) != dashboardDeliveries || !strings.Contains(s, fmt.Sprintf("<b>%d</b> pending", total)) {
		t.Errorf("notifications: %d rows, want %d, of %d pending", rows(s), dashboardDeliveries, total)
	}

	seen := map[string]bool{}
	next := regexp.MustCompile(`<a href="(/notifications\?cursor=[^"]+)">Older`)
	path, pages := "/notifications", 0
	var order []string
	for path != "" {
		code, page := get(path)
		pages++
		if code != http.StatusOK || pages > total {
			t.Fatalf("GET %s: %d", path, code)
		}
		s := section(t, page, "Notifications")
		if r := rows(s); r > notificationsPage {
			t.Errorf("page %d: %d rows, more than %d", pages, r, notificationsPage)
		}
		for _, m := range regexp.MustCompile(`<td>(s\d{3})</td>`).FindAllStringSubmatch(s, -1) {
			if seen[m[1]] {
				t.Errorf("%s on two pages", m[1])
			}
			seen[m[1]] = true
			order = append(order, m[1])
		}
		path = ""
		if m := next.FindStringSubmatch(page); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(seen) != total || pages != 3 {
		t.Errorf("%d deliveries in %d pages, want %d in 3", len(seen), pages, total)
	}
	if !slices.IsSortedFunc(order, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("deliveries not newest first: %v", order)
	}
}
