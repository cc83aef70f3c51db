package helen

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/state"
)

// historyItems decodes a JSON list of results into the fields this test
// looks at, by name, so that it reads any version of the document.
func historyItems(t *testing.T, what string, data []byte) []map[string]any {
	t.Helper()
	var items []map[string]any
	if err := json.Unmarshal(data, &items); err != nil {
		t.Fatalf("%s: %v in %s", what, err, data)
	}
	return items
}

// messagesOf returns the set of messages of items, and reports whether
// each item's schedule is in schedules.
func messagesOf(items []map[string]any, schedules ...string) (map[string]bool, bool) {
	msgs := map[string]bool{}
	ok := true
	for _, it := range items {
		msgs[it["message"].(string)] = true
		sch, _ := it["schedule"].(string)
		found := false
		for _, s := range schedules {
			found = found || s == sch
		}
		ok = ok && found
	}
	return msgs, ok
}

// TestHistoryBySchedule: two schedules of one check (disk of / and of
// /var) are told apart in the history: /v1/history selects by schedule,
// and helen history AGENT NAME by schedule or check name, online and
// offline.
func TestHistoryBySchedule(t *testing.T) {
	h := startHelen(t, server.Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	for _, sch := range []state.Schedule{
		{Name: "disk-root", Check: "disk", Args: json.RawMessage(`{"path":"/","tag":"root"}`), Every: 50 * time.Millisecond},
		{Name: "disk-var", Check: "disk", Args: json.RawMessage(`{"path":"/var","tag":"var"}`), Every: 50 * time.Millisecond},
	} {
		if _, err := h.srv.PutSchedule(sch); err != nil {
			t.Fatal(err)
		}
	}
	runCheck(t, h, "web-1", "disk", `{"tag":"asked"}`)
	poll(t, "results of both schedules", func() bool {
		rs, err := h.srv.DB().History("web-1", "disk", 0, time.Time{}, time.Time{})
		n := map[string]int{}
		for _, r := range rs {
			n[r.Message]++
		}
		return err == nil && n["disk root"] >= 2 && n["disk var"] >= 2
	})
	c := newOpsClient(t, h)
	get := func(path string) []map[string]any {
		code, data := c.Do(http.MethodGet, path, c.Token, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, data)
		}
		return historyItems(t, path, data)
	}
	msgs, ok := messagesOf(get("/v1/history?agent=web-1&schedule=disk-var"), "disk-var")
	if !ok || !msgs["disk var"] || len(msgs) != 1 {
		t.Errorf("GET /v1/history?schedule=disk-var: messages %v, schedules all disk-var: %v", msgs, ok)
	}
	msgs, ok = messagesOf(get("/v1/history?agent=web-1&check=disk&limit=1000"), "disk-root", "disk-var", "")
	if !ok || !msgs["disk var"] || !msgs["disk root"] || !msgs["disk asked"] {
		t.Errorf("GET /v1/history?check=disk: messages %v, want both schedules' and the run's", msgs)
	}
	msgs, _ = messagesOf(get("/v1/history?agent=web-1&name=disk-root"), "disk-root")
	if !msgs["disk root"] || len(msgs) != 1 {
		t.Errorf("GET /v1/history?name=disk-root: messages %v", msgs)
	}
	if code, data := c.Do(http.MethodGet, "/v1/history?agent=web-1&schedul=disk-var", c.Token, nil); code != http.StatusBadRequest || !isJSONError(data) {
		t.Errorf("GET /v1/history with a parameter it does not take: %d %s, want 400", code, data)
	}

	// helen history AGENT NAME: NAME is a schedule's or a check's.
	cli := func() {
		t.Helper()
		data := "--data=" + h.dir
		out, code := helenCLI(t, "history", data, "--json", "--limit=1000", "web-1", "disk-var")
		if code != 0 {
			t.Fatalf("history web-1 disk-var: exit %d, %s", code, out)
		}
		if msgs, ok := messagesOf(historyItems(t, "history disk-var", []byte(out)), "disk-var"); !ok || len(msgs) != 1 || !msgs["disk var"] {
			t.Errorf("history web-1 disk-var: messages %v, schedules all disk-var: %v", msgs, ok)
		}
		out, code = helenCLI(t, "history", data, "--json", "--limit=1000", "web-1", "disk")
		msgs, _ := messagesOf(historyItems(t, "history disk", []byte(out)))
		if code != 0 || !msgs["disk var"] || !msgs["disk root"] || !msgs["disk asked"] {
			t.Errorf("history web-1 disk: exit %d, messages %v", code, msgs)
		}
		out, code = helenCLI(t, "history", data, "web-1", "disk-root")
		if code != 0 || !strings.Contains(out, "SCHEDULE") || !strings.Contains(out, "disk-root") || strings.Contains(out, "disk var") {
			t.Errorf("history web-1 disk-root: exit %d, printed\n%s", code, out)
		}
	}
	cli()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	cli()
}
