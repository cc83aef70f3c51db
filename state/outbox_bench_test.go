package state

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// benchDoc is a notification's document of a typical size.
var benchDoc = json.RawMessage(`{"kind":"problem","agent":"web-0001","schedule":"load","check":"load","status":"critical","previous":"ok","message":"load average 9.12, 8.40, 7.95","metrics":[{"name":"load1","value":9.12}],"since":"2025-06-01T12:00:00Z","time":"2025-06-01T12:00:00Z","link":"https://helen.example.com/agents/web-0001"}`)

// BenchmarkAddEventWith3Notifications writes an event and its three
// notifications, by callers one at a time (each commit its own fsync) and
// by many at once (sharing commits, as the monitor's writers do).
func BenchmarkAddEventWith3Notifications(b *testing.B) {
	en := func(i int64) EventNotifications {
		ev := Event{Time: time.Unix(0, 1e18+i), Agent: fmt.Sprintf("web-%04d", i%1000), Schedule: "load", Check: "load", From: "ok", To: "critical", Message: "load average 9.12"}
		e := EventNotifications{Event: ev}
		for r := range 3 {
			e.Notify = append(e.Notify, Outgoing{Route: "oncall", Receiver: r, Doc: benchDoc})
		}
		return e
	}
	b.Run("serial", func(b *testing.B) {
		db := openTest(b, Options{PruneInterval: -1})
		b.ReportAllocs()
		var i int64
		for b.Loop() {
			i++
			if err := db.AddEventsWithNotifications(en(i)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("parallel", func(b *testing.B) {
		db := openTest(b, Options{PruneInterval: -1})
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := db.AddEventsWithNotifications(en(next.Add(1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkDeliver is one delivery as a worker makes it, the receiver
// left out: NextDue of one notification, then RecordAttempt of its
// delivery. By one worker (an fsync each) and by 32 and 256 (RecordAttempt's
// commits shared), over notifications of 1,000 agents.
func BenchmarkDeliver(b *testing.B) {
	for _, workers := range []int{1, 32, 256} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			db := openTest(b, Options{PruneInterval: -1})
			fillOutbox(b, db, b.N+workers)
			now := time.Unix(0, 2e18)
			b.ReportAllocs()
			b.ResetTimer()
			var done atomic.Int64
			b.SetParallelism(workers)
			if workers == 1 {
				b.SetParallelism(1)
			}
			run := func() bool {
				ns, err := db.NextDue(now, 1)
				if err != nil || len(ns) != 1 {
					b.Errorf("next due: %d, %v", len(ns), err)
					return false
				}
				if err := db.RecordAttempt(ns[0].ID, Attempt{Time: now, Answer: "200 OK"}, Delivered, time.Time{}); err != nil {
					b.Error(err)
					return false
				}
				done.Add(1)
				return true
			}
			if workers == 1 {
				for range b.N {
					if !run() {
						return
					}
				}
			} else {
				// RunParallel's goroutines are GOMAXPROCS × parallelism;
				// SetParallelism asks for workers of them per CPU.
				b.SetParallelism(max(1, workers/max(1, runtimeCPUs())))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if !run() {
							return
						}
					}
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(done.Load())/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// fillOutbox stores n pending notifications of 1,000 agents, 1,000 a
// transaction.
func fillOutbox(b *testing.B, db *DB, n int) {
	b.Helper()
	for start := 0; start < n; start += 1000 {
		var ens []EventNotifications
		for i := start; i < min(n, start+1000); i++ {
			ev := Event{Time: time.Unix(0, 1e18+int64(i)), Agent: fmt.Sprintf("web-%04d", i%1000), Schedule: "load", From: "ok", To: "critical"}
			ens = append(ens, EventNotifications{Event: ev, Notify: []Outgoing{{Route: "oncall", Doc: benchDoc}}})
		}
		if err := db.AddEventsWithNotifications(ens...); err != nil {
			b.Fatal(err)
		}
	}
}

func runtimeCPUs() int { return runtime.GOMAXPROCS(0) }
