package web

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
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
		page.Statuses = append(page.Statuses, monitor.StatusView{Status: state.Status{Agent: name, Schedule: "disk", Check: "disk", Status: "ok",
			Since: now.Add(-time.Hour), Time: now, Message: "/ 20.4% used (18.5 GiB of 252.0 GiB)"}})
		page.AgentList = append(page.AgentList, AgentView{Agent: state.Agent{Name: name, Version: "1.0.0", Addr: "10.0.0.1:40000",
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
