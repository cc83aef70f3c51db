package state

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/svgchart"
)

// BenchmarkFeed is the graphs' cost on the results' path: one Feed of a
// stored result, of 1 and of 4 metrics, of 1,000 series in turn.
func BenchmarkFeed(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("metrics=%d", n), func(b *testing.B) {
			c := newFakeNow(at(0))
			db := openTest(b, Options{PruneInterval: -1, now: c.now, rollupFlush: -1})
			rs := make([]Result, 1000)
			for i := range rs {
				rs[i] = point(at(0), make([]Metric, n)...)
				rs[i].Agent = fmt.Sprintf("web-%d", i)
				for j := range n {
					rs[i].Metrics[j] = mv(fmt.Sprintf("m%d", j), float64(i))
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r := &rs[i%len(rs)]
				// A new minute every 6 rounds of the series, as a 10 s
				// schedule gives; flushed every 10 s of that time.
				r.Time = at(time.Duration(i/len(rs)) * 10 * time.Second)
				if err := db.Feed(*r); err != nil {
					b.Fatal(err)
				}
				if i%len(rs) == len(rs)-1 {
					b.StopTimer()
					if err := db.flushRollups(r.Time); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkRender30Days is a 30-day graph of a 10 s schedule: its
// 259,200 results fed and flushed into the rollups beforehand, then, each
// op, Series of the 30 days (the hour tier), Downsample to a point every
// 2 px and Render. It reports the SVG's bytes.
func BenchmarkRender30Days(b *testing.B) {
	end := at(0).Truncate(time.Hour)
	start := end.Add(-30 * 24 * time.Hour)
	c := newFakeNow(start)
	db := openTest(b, Options{PruneInterval: -1, now: c.now, rollupFlush: -1})
	r := point(start, mv("load1", 0))
	n := 0
	for t := start; t.Before(end); t = t.Add(10 * time.Second) {
		r.Time = t
		r.Metrics[0].Value = float64(n%360) / 36
		if n%8640 == 4321 {
			r.Metrics[0].Value = 100 // a spike a day
		}
		if err := db.Feed(r); err != nil {
			b.Fatal(err)
		}
		if n++; n%360 == 0 {
			c.set(t)
			if err := db.flushRollups(t); err != nil {
				b.Fatal(err)
			}
		}
	}
	c.set(end.Add(rollGrace))
	if err := db.flushRollups(c.now()); err != nil {
		b.Fatal(err)
	}
	warn, crit := 8.0, 9.5
	var out bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bs, err := db.Series("web-1", "cpu", "load1", start, end)
		if err != nil {
			b.Fatal(err)
		}
		ch := svgchart.Chart{Title: "load1", From: start, To: end, Warn: &warn, Crit: &crit,
			Buckets: svgchart.Downsample(bs, start, end, svgchart.DefaultWidth/2)}
		out.Reset()
		if err := svgchart.Render(&out, ch); err != nil {
			b.Fatal(err)
		}
		if len(bs) != 720 {
			b.Fatalf("%d buckets, want 720", len(bs))
		}
	}
	b.ReportMetric(float64(out.Len()), "svg-bytes")
}

// BenchmarkFlush is a flush of the store benchmark's load: a point of
// each of 32,000 series (1,000 agents, 32 schedules, a metric each), in
// a minute the file holds already.
func BenchmarkFlush(b *testing.B) {
	c := newFakeNow(at(0))
	db := openTest(b, Options{PruneInterval: -1, now: c.now, rollupFlush: -1})
	rs := make([]Result, 32_000)
	for i := range rs {
		rs[i] = point(at(0), mv("value", 1))
		rs[i].Agent, rs[i].Schedule = fmt.Sprintf("web-%d", i/32), fmt.Sprintf("load%d", i%32)
	}
	b.ReportAllocs()
	for i := range b.N + 1 {
		if i == 1 {
			b.ResetTimer() // the first made the series
		}
		b.StopTimer()
		for j := range rs {
			rs[j].Time = at(time.Duration(i) * 10 * time.Second)
			if err := db.Feed(rs[j]); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := db.flushRollups(rs[0].Time); err != nil {
			b.Fatal(err)
		}
	}
}
