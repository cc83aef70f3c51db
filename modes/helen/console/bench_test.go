package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/state"
)

// fleet gives the rig's backend 10,000 agents of 5 statuses each, 1 in
// 100 a problem, and stores the agents.
func fleet(b *testing.B, r *rig) {
	var sts []monitor.StatusView
	var agents []state.Agent
	for i := range 10000 {
		name := fmt.Sprintf("web-%05d", i)
		agents = append(agents, state.Agent{Name: name, Version: "1.0.0", Addr: "10.0.0.1:4000", LastSeen: r.now})
		for j, sch := range []string{"disk", "load", "mem", "ping", "ntp"} {
			status := "ok"
			if (i*5+j)%100 == 0 {
				status = "critical"
			}
			sts = append(sts, monitor.StatusView{Kind: monitor.KindSchedule, Status: state.Status{Agent: name, Schedule: sch, Check: sch, Status: status,
				Since: r.now.Add(-time.Hour), Time: r.now, Message: "/ 20.4% used (18.5 GiB of 252.0 GiB)", StateType: state.Hard, Attempt: 1, MaxAttempts: 1}})
		}
	}
	for _, a := range agents {
		if err := r.db.AgentSeen(a); err != nil {
			b.Fatal(err)
		}
	}
	r.backend.statuses = sts
}

func benchPage(b *testing.B, r *rig, path string) {
	cookie, _ := r.login("", adminToken)
	var n int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(cookie)
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s: %d", path, w.Code)
		}
		n = w.Body.Len()
	}
	b.ReportMetric(float64(n), "bytes/page")
}

// BenchmarkOverview10k renders a page of the overview (100 lines) of
// 10,000 agents and 50,000 statuses, 500 of them problems.
func BenchmarkOverview10k(b *testing.B) {
	r := newRig(b)
	fleet(b, r)
	benchPage(b, r, "/")
}

// BenchmarkOverview10kFiltered: the same with a filter that reads every
// line's text.
func BenchmarkOverview10kFiltered(b *testing.B) {
	r := newRig(b)
	fleet(b, r)
	benchPage(b, r, "/?q=nothing-matches&agent=web-*")
}

// BenchmarkAgentPage renders an agent's page in that fleet: its 5
// schedules with their sparklines, its events and notifications.
func BenchmarkAgentPage(b *testing.B) {
	r := newRig(b)
	fleet(b, r)
	for _, sch := range []string{"disk", "load", "mem", "ping", "ntp"} {
		r.graphs.names["web-00042/"+sch] = []string{"value"}
	}
	for i := range 1000 {
		if err := r.db.AddEvents(state.Event{Time: r.now.Add(time.Duration(i) * time.Second), Agent: fmt.Sprintf("web-%05d", i%50), Schedule: "disk", From: "ok", To: "critical", Message: "full"}); err != nil {
			b.Fatal(err)
		}
	}
	benchPage(b, r, "/agents/web-00042")
}

// BenchmarkPageWeight reports the bytes of each page of a small helen
// (one agent, its statuses, events, history and graphs), the weight a
// browser fetches besides console.css.
func BenchmarkPageWeight(b *testing.B) {
	r := newRig(b)
	r.agent("web-1", true, state.Status{Schedule: "disk", Check: "disk", Status: "critical", Message: "full"},
		state.Status{Schedule: "load", Check: "load", Status: "ok", Message: "fine"})
	if err := r.db.PutSchedule(state.Schedule{Name: "disk", Check: "disk", Every: time.Minute, Timeout: time.Second}); err != nil {
		b.Fatal(err)
	}
	r.graphs.names["web-1/disk"] = []string{"used"}
	for i := range historyPer {
		r.db.AddResult(b.Context(), state.Result{Agent: "web-1", Check: "disk", Schedule: "disk", Time: r.now.Add(time.Duration(-i) * time.Minute), Status: "critical", Message: "full",
			Metrics: []state.Metric{{Name: "used", Value: 91, Unit: "%"}}})
		r.db.AddEvents(state.Event{Time: r.now.Add(time.Duration(-i) * time.Minute), Agent: "web-1", Schedule: "disk", From: "ok", To: "critical", Message: "full"})
	}
	for _, path := range []string{"/", "/agents/web-1", "/agents/web-1/schedules/disk", "/events", "/notifications"} {
		b.Run(path, func(b *testing.B) { benchPage(b, r, path) })
	}
}
