package helen

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/state"
)

// statusLines returns the lines of a helen status table after its header.
func statusLines(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "STATUS") {
		t.Fatalf("not a status table:\n%s", out)
	}
	return lines[1:]
}

// TestAgentDownIsOneLine: an agent down is one line of the status list,
// its schedules folded under it, in /v1/status, helen status and the
// dashboard; ?all=true and --all list them under it; /metrics still has
// each schedule's series, unknown.
func TestAgentDownIsOneLine(t *testing.T) {
	h := startHelen(t, server.Config{DownAfter: 2 * time.Second})
	c := newOpsClient(t, h)
	gone := startAgent(t, h, "gone-1", behavior{})
	gone.Ready()
	startAgent(t, h, "live-1", behavior{}).Ready()
	const schedules = 4
	for i := range schedules {
		if _, err := h.srv.PutSchedule(state.Schedule{Name: fmt.Sprint("s", i), Check: "c", Every: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, "the first events of every schedule on both agents", func() bool {
		evs, err := h.srv.DB().Events(time.Time{}, time.Time{}, 0)
		return err == nil && len(evs) == 2*schedules
	})
	gone.Close()
	poll(t, "gone-1 down", func() bool {
		evs, err := h.srv.DB().Events(time.Time{}, time.Time{}, 0)
		return err == nil && len(evs) > 0 && evs[len(evs)-1].Agent == "gone-1" && evs[len(evs)-1].To == "down"
	})

	var list []map[string]any
	c.Get("/v1/status", &list)
	var lines []map[string]any
	for _, it := range list {
		if it["agent"] == "gone-1" {
			lines = append(lines, it)
		}
	}
	if len(list) != schedules+1 || len(lines) != 1 || lines[0]["kind"] != "agent_down" || lines[0]["status"] != "unknown" || lines[0]["folded"] != float64(schedules) {
		t.Errorf("/v1/status: %d lines, of gone-1 %v; want %d lines, one of gone-1, kind agent_down, %d folded", len(list), lines, schedules+1, schedules)
	}
	c.Get("/v1/status?all=true", &list)
	kinds := map[string]int{}
	for _, it := range list {
		if it["agent"] == "gone-1" {
			kinds[fmt.Sprint(it["kind"])]++
			if it["kind"] == "folded" && (it["status"] != "unknown" || it["previous"] != "ok") {
				t.Errorf("/v1/status?all=true: folded line %v", it)
			}
		}
	}
	if kinds["agent_down"] != 1 || kinds["folded"] != schedules {
		t.Errorf("/v1/status?all=true: lines of gone-1 by kind %v, want one agent_down and %d folded", kinds, schedules)
	}

	data := "--data=" + h.dir
	for _, tt := range []struct {
		args []string
		want int
	}{{nil, 1}, {[]string{"--all"}, 1 + schedules}} {
		out, code := helenCLI(t, append([]string{"status", data}, tt.args...)...)
		n := 0
		for _, l := range statusLines(t, out) {
			if strings.Contains(l, "gone-1") {
				n++
			}
		}
		if code != 0 || n != tt.want {
			t.Errorf("helen status %v: exit %d, %d lines of gone-1, want %d:\n%s", tt.args, code, n, tt.want, out)
		}
	}
	out, _ := helenCLI(t, "status", data)
	if !strings.Contains(out, "agent down") {
		t.Errorf("helen status does not say the agent is down:\n%s", out)
	}

	// The dashboard's status table: a line for each schedule on live-1,
	// one for gone-1.
	req, _ := http.NewRequest(http.MethodGet, c.Base+"/", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, page := c.Send(req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: %d %s", resp.StatusCode, page)
	}
	i := strings.Index(string(page), "<h2>Status</h2>")
	j := i + strings.Index(string(page)[max(i, 0):], "</table>")
	if i < 0 || j < i {
		t.Fatalf("dashboard without its status table:\n%s", page)
	}
	table := string(page)[i:j]
	if rows := strings.Count(table, "<tr") - 1; rows != schedules+1 || strings.Count(table, ">gone-1<") != 1 {
		t.Errorf("dashboard: %d status rows, %d of gone-1; want %d and 1:\n%s", rows, strings.Count(table, ">gone-1<"), schedules+1, table)
	}

	// Prometheus keeps a series a schedule, unknown while its agent is
	// down.
	fams := scrape(t, c)
	for i := range schedules {
		if v, ok := gauge(fams["equus_check_status"], map[string]string{"agent": "gone-1", "schedule": fmt.Sprint("s", i)}); !ok || v != 3 {
			t.Errorf("equus_check_status of gone-1 s%d = %v, %v; want 3", i, v, ok)
		}
	}
	if code, data := c.Do(http.MethodGet, "/v1/status?all=maybe", c.Token, nil); code != http.StatusBadRequest || !isJSONError(data) {
		t.Errorf("/v1/status?all=maybe: %d %s, want 400", code, data)
	}
}
