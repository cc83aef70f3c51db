package monitor

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// The spread of the engine's benchmark: agents named in groups (web-0001,
// db-0002, ...), routes and silences over them as operators write them.
const (
	benchAgents   = 10_000
	benchRoutes   = 100
	benchSilences = 1_000
)

var benchGroups = []string{"web", "db", "cache", "queue", "edge", "batch", "mail", "dns", "lb", "build"}

var benchSchedules = []string{"load", "disk-root", "disk-data", "http", "ntp"}

func benchAgent(i int) string { return fmt.Sprintf("%s-%04d", benchGroups[i%len(benchGroups)], i) }

// benchRules stores the benchmark's routes and silences in db, as of now:
// routes of every agent (a few), of a group (web-*), of ten agents (web-00[0-9]?),
// of one agent, with schedules of their own; silences of one agent (the
// most: a host in maintenance), of a few (db-12*), of a group's schedule
// (cache-* disk-*), every one in force.
func benchRules(tb testing.TB, db *state.DB, now time.Time) {
	tb.Helper()
	hook := []state.Receiver{{Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: "https://hooks.example.com/equus"}}}
	for i := range benchRoutes {
		g := benchGroups[i/5%len(benchGroups)]
		rt := state.Route{Name: fmt.Sprintf("route-%03d", i), Receivers: hook}
		switch i % 5 {
		case 0:
			rt.Agents, rt.Statuses = g+"-*", []string{"critical"}
			if i%20 == 0 {
				rt.Agents = ""
			}
		case 1:
			rt.Agents = g + "-*"
		case 2:
			rt.Agents, rt.Schedules = fmt.Sprintf("%s-0%d[0-9]?", g, i%10), "disk-*"
		case 3:
			rt.Agents = benchAgent(i * 97 % benchAgents)
		case 4:
			rt.Agents, rt.Schedules = g+"-*", benchSchedules[i%len(benchSchedules)]
		}
		if err := db.PutRoute(rt); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range benchSilences {
		g := benchGroups[i/10%len(benchGroups)]
		s := state.Silence{Created: now, Start: now.Add(-time.Hour), End: now.Add(24 * time.Hour), Comment: "maintenance"}
		switch {
		case i%10 < 8:
			s.Agents = benchAgent(i * 7919 % benchAgents)
		case i%10 == 8:
			s.Agents = fmt.Sprintf("%s-%02d*", g, i%100)
		default:
			s.Agents, s.Schedules = g+"-*", benchSchedules[i%len(benchSchedules)]+"-x*"
		}
		if _, err := db.AddSilence(s); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkDecide is the engine's decision on a hard change of status (a
// problem or its recovery) as the status table asks it, with 100 routes
// and 1,000 silences in force, over 10,000 agents and five schedules:
// warm, each agent's routes and silences known (rulesLocked's cache), and
// cold, each decision the first of its agent. cpu-ns/op is the processor
// time a decision takes (the collector's included), which others' load
// on the machine does not inflate as it does ns/op.
func BenchmarkDecide(b *testing.B) {
	db, err := state.Open(filepath.Join(b.TempDir(), "helen.db"), state.Options{PruneInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	benchRules(b, db, now)
	e, err := newEngine(db, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	events := make([]state.Event, 2*benchAgents)
	statuses := make([]state.Status, len(events))
	for i := range events {
		agent, sch := benchAgent(i/2), benchSchedules[i%len(benchSchedules)]
		from, to := result.OK, result.Critical
		if i%2 == 1 {
			from, to = to, from
		}
		events[i] = state.Event{Time: now, Agent: agent, Schedule: sch, Check: sch, From: string(from), To: string(to),
			HardChange: true, HardFrom: string(from), Message: "load average 9.12, 8.40, 7.95"}
		statuses[i] = state.Status{Agent: agent, Schedule: sch, Check: sch, Status: string(to), HardStatus: string(to), Since: now,
			Metrics: []result.Metric{{Name: "load1", Value: 9.12}}}
	}
	told := 0
	run := func(b *testing.B, cold bool) {
		b.ReportAllocs()
		i, start := 0, told
		cpu0, measured := cpuTime()
		defer func() {
			b.ReportMetric(float64(told-start)/float64(i), "notifications/op")
			if cpu1, ok := cpuTime(); measured && ok {
				b.ReportMetric(float64(cpu1-cpu0)/float64(i), "cpu-ns/op")
			}
		}()
		for b.Loop() {
			ev := events[i%len(events)]
			if cold {
				e.mu.Lock()
				delete(e.byAgent, ev.Agent)
				e.mu.Unlock()
			}
			told += len(e.decide(ev, &statuses[i%len(events)], false).notify)
			i++
		}
	}
	for _, ev := range events {
		e.decide(ev, nil, false)
	}
	b.Run("warm", func(b *testing.B) { run(b, false) })
	b.Run("cold", func(b *testing.B) { run(b, true) })
	if told == 0 {
		b.Fatal("no decision notified anyone")
	}
}
