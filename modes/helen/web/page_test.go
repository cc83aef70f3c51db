package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/reply"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

func TestParseNext(t *testing.T) {
	tests := []struct{ name, header, want string }{
		{"none", "", ""},
		{"next", `</v1/status?cursor=abc&limit=100>; rel="next"`, "/v1/status?cursor=abc&limit=100"},
		{"unquoted", `</a>; rel=next`, "/a"},
		{"among-others", `</first>; rel="first", </b?x=1>; title="x"; rel="next"`, "/b?x=1"},
		{"rel-list", `</c>; rel="prev next"`, "/c"},
		{"prev-only", `</p>; rel="prev"`, ""},
		{"no-brackets", `/a; rel="next"`, ""},
		{"no-params", `</a>`, ""},
		{"case", `</a>; REL="next"`, "/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseNext(tt.header); got != tt.want {
				t.Errorf("ParseNext(%q) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

// writeTestPage writes the page of items after cursor (an index, "" for
// the start) as a list endpoint does, and returns its answer.
func writeTestPage(t *testing.T, items []string, query string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/v1/test?"+query, nil)
	limit, err := pageLimit(r.URL.Query())
	if err != nil {
		t.Fatal(err)
	}
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		if start, err = strconv.Atoi(c); err != nil {
			t.Fatal(err)
		}
		start++
	}
	rest := items[start:min(len(items), start+limit+1)]
	w := httptest.NewRecorder()
	page{n: len(rest), limit: limit,
		item:   func(i int) any { return rest[i] },
		cursor: func(i int) string { return strconv.Itoa(start + i) },
	}.write(w, r)
	return w
}

// TestPageWalk: following the Links gives every item once, in order, in
// pages of at most limit items and maxPageBytes, whatever the items' size.
func TestPageWalk(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		name  string
		items []string
		limit string
		pages int
	}{
		{"empty", nil, "", 1},
		{"one-page", []string{"a", "b", "c"}, "", 1},
		{"exact", []string{"a", "b", "c", "d"}, "limit=2", 2},
		{"pages", []string{"a", "b", "c", "d", "e"}, "limit=2", 3},
		{"default", make([]string, defaultPageLimit*2+1), "", 3},
		{"over-max", make([]string, MaxPageLimit+1), "limit=5000", 2},
		// 1 MiB items: three to a 4 MiB page, whatever the limit.
		{"bytes", []string{big, big, big, big, big, big, big}, "limit=1000", 3},
		{"huge-item", []string{strings.Repeat("y", maxPageBytes+1), "z"}, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			query := tt.limit
			pages := 0
			for {
				pages++
				if pages > len(tt.items)+1 {
					t.Fatal("the pages never end")
				}
				w := writeTestPage(t, tt.items, query)
				var items []string
				if err := json.Unmarshal(w.Body.Bytes(), &items); err != nil || w.Code != http.StatusOK {
					t.Fatalf("page %d: %d, %v", pages, w.Code, err)
				}
				if items == nil {
					t.Fatalf("page %d: %q, want a JSON array", pages, w.Body.String()[:min(w.Body.Len(), 20)])
				}
				if len(items) > 1 && w.Body.Len() > maxPageBytes+8 {
					t.Errorf("page %d: %d items in %d bytes, want at most %d bytes", pages, len(items), w.Body.Len(), maxPageBytes)
				}
				got = append(got, items...)
				next := ParseNext(w.Header().Get("Link"))
				if next == "" {
					break
				}
				u, err := url.Parse(next)
				if err != nil || u.Path != "/v1/test" {
					t.Fatalf("Link %q: %v", next, err)
				}
				query = u.RawQuery
			}
			if len(got) != len(tt.items) || pages != tt.pages {
				t.Fatalf("%d items in %d pages, want %d in %d", len(got), pages, len(tt.items), tt.pages)
			}
			for i := range got {
				if got[i] != tt.items[i] {
					t.Fatalf("item %d differs", i)
				}
			}
		})
	}
}

// TestPageJSON: a page is what writeJSON wrote of the whole list before
// pages, byte for byte.
func TestPageJSON(t *testing.T) {
	items := []monitor.StatusView{
		{Status: state.Status{Agent: "a", Schedule: "s", Status: "ok", Message: "<fine> & \u2028"}},
		{Status: state.Status{Agent: "b", Schedule: "s", Status: "critical", Metrics: []state.Metric{{Name: "m", Value: 1}}}, Kind: monitor.KindAgentDown, Folded: 3},
	}
	for n := range len(items) + 1 {
		want := httptest.NewRecorder()
		reply.JSON(want, http.StatusOK, append([]monitor.StatusView{}, items[:n]...))
		got := writeTestPageOf(items[:n])
		if got.Body.String() != want.Body.String() {
			t.Errorf("%d items: page %q, want %q", n, got.Body, want.Body)
		}
	}
}

func writeTestPageOf[T any](items []T) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	page{n: len(items), limit: defaultPageLimit,
		item:   func(i int) any { return items[i] },
		cursor: func(i int) string { return fmt.Sprint(i) },
	}.write(w, httptest.NewRequest(http.MethodGet, "/v1/x", nil))
	return w
}

func TestPageLimit(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
		ok   bool
	}{{"", defaultPageLimit, true}, {"1", 1, true}, {"1000", 1000, true}, {"100000", MaxPageLimit, true},
		{"0", 0, false}, {"-1", 0, false}, {"ten", 0, false}} {
		got, err := pageLimit(url.Values{"limit": {tt.in}})
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("limit=%q: %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// worstItems are the largest item of each list, every string at its bound
// and made of what JSON escapes to six bytes (a control character, or <
// which the encoder escapes for HTML).
func worstItems() map[string]any {
	esc := func(n int) string { return strings.Repeat("<", n) }
	const maxString = 250 // the protocol's <string>: a check name, a version
	msg, _ := state.Cap(strings.Repeat("\x01", wire.MaxBlob), nil)
	big := -1.2345678901234567e-300
	ms := make([]state.Metric, state.MaxMetrics)
	for i := range ms {
		ms[i] = state.Metric{Name: esc(state.MaxMetricName), Value: big, Unit: esc(state.MaxMetricUnit), Warn: &big, Crit: &big, Min: &big, Max: &big}
	}
	agent, schedule, check := strings.Repeat("a", 64), strings.Repeat("s", 64), esc(maxString)
	now := time.Now()
	st := state.Status{Agent: agent, Schedule: schedule, Check: check, Status: "critical", Since: now, Previous: "warning",
		Message: msg, Time: now, Metrics: ms}
	args := `{"a":"` + esc(wire.MaxBlob-64-8) + `"}`
	return map[string]any{
		"result": state.Result{Agent: agent, Check: check, Time: now, Status: "critical", Message: msg, Metrics: ms, DurationMS: big},
		"status": monitor.StatusView{Kind: monitor.KindAgentDown, Status: st, Folded: 1 << 30},
		"event":  state.Event{Time: now, Agent: agent, Schedule: schedule, Check: check, From: "warning", To: "critical", Message: msg},
		// A schedule whose args fill a blob and whose agents pattern fills
		// the rest of a request's body.
		"schedule": ScheduleView{Name: schedule, Check: check, Args: json.RawMessage(args), Every: Duration(time.Hour),
			Timeout: Duration(time.Hour), Agents: esc(maxRequestBody - len(args)), Created: now, Updated: now},
		"agent": AgentView{Agent: state.Agent{Name: agent, Fingerprint: "sha256:" + strings.Repeat("f", 64), Version: esc(maxString),
			Addr: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", FirstSeen: now, LastSeen: now, Since: now}, Revoked: true},
	}
}

// TestPagesFitAdminReply states the relation between the server's bounds
// and the client's: a full page of the largest items of any list (each
// item bounded by the store's caps and the requests' bounds, a page by
// MaxPageLimit and maxPageBytes) is within what the helen commands read of
// a reply, MaxReply.
func TestPagesFitAdminReply(t *testing.T) {
	for name, item := range worstItems() {
		t.Run(name, func(t *testing.T) {
			one, err := json.MarshalIndent(item, "  ", "  ")
			if err != nil {
				t.Fatal(err)
			}
			items := make([]any, MaxPageLimit+1)
			for i := range items {
				items[i] = item
			}
			w := writeTestPageOf(items)
			if w.Body.Len() > MaxReply {
				t.Errorf("a page of the largest %s is %d bytes, over the %d of MaxReply", name, w.Body.Len(), MaxReply)
			}
			if bound := max(maxPageBytes, len(one)) + 8; w.Body.Len() > bound {
				t.Errorf("a page of the largest %s is %d bytes, want at most %d", name, w.Body.Len(), bound)
			}
			if ParseNext(w.Header().Get("Link")) == "" {
				t.Error("no Link to the items left")
			}
			t.Logf("largest %s: %d bytes; a page of them %d bytes", name, len(one), w.Body.Len())
		})
	}
}
