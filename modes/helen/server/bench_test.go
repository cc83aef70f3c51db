package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
)

// BenchmarkPingRoundTrip measures Run of equus.ping on one agent over real
// TLS on loopback, with 1 and with 64 checks in flight.
func BenchmarkPingRoundTrip(b *testing.B) {
	for _, inFlight := range []int{1, 64} {
		b.Run(fmt.Sprint("in-flight=", inFlight), func(b *testing.B) {
			h := startHelen(b, Config{Log: slog.New(slog.DiscardHandler)})
			a := startAgent(b, h, "bench", behavior{Forget: true})
			a.Ready()
			ctx := context.Background()
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range inFlight {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for left.Add(-1) >= 0 {
						doc, err := h.srv.Run(ctx, "bench", "equus.ping", nil, waitFor)
						if err != nil || doc.Status != result.OK {
							b.Errorf("ping: %+v %v", doc, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rt/s")
		})
	}
}
