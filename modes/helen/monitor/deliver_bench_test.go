package monitor

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/modes/helen/monitor/notify"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// benchHook is a webhook receiver over TLS on loopback that counts what
// it receives; got, when not nil, is told of each notification as its
// request arrives.
type benchHook struct {
	srv   *httptest.Server
	count atomic.Int64
	got   func(n notify.Notification)
}

func newBenchHook(b *testing.B) *benchHook {
	hk := &benchHook{}
	hk.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if hk.got != nil {
			var n notify.Notification
			if err := json.Unmarshal(body, &n); err == nil {
				hk.got(n)
			}
		}
		hk.count.Add(1)
		io.WriteString(w, "ok")
	}))
	// Dials that lose their race for a request are closed mid-handshake
	// when the benchmark ends; that is not news.
	hk.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	hk.srv.StartTLS()
	b.Cleanup(hk.srv.Close)
	return hk
}

func (hk *benchHook) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(hk.srv.Certificate())
	return p
}

// benchStore opens a store under b.TempDir with the route "ops" to hk.
func benchStore(b *testing.B, hk *benchHook) *state.DB {
	db, err := state.Open(filepath.Join(b.TempDir(), "helen.db"), state.Options{PruneInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	route := state.Route{Name: "ops", Receivers: []state.Receiver{{Kind: state.KindWebhook, Webhook: &state.WebhookReceiver{URL: hk.srv.URL}}}}
	if err := db.PutRoute(route); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkDeliveries is the outbox's throughput to a webhook: b.N
// notifications of 1,000 agents stored, then sent by the delivery
// workers as helen runs them (NextDue and RecordAttempts on a bbolt file,
// the webhook receiver, HTTPS on loopback) until the store has them all
// delivered.
func BenchmarkDeliveries(b *testing.B) {
	hk := newBenchHook(b)
	db := benchStore(b, hk)
	now := time.Now()
	doc, err := json.Marshal(notify.Sample(notify.Problem))
	if err != nil {
		b.Fatal(err)
	}
	for start := 0; start < b.N; start += 1000 {
		var ens []state.EventNotifications
		for i := start; i < min(b.N, start+1000); i++ {
			o := state.Outgoing{Route: "ops", Doc: doc, Agent: fmt.Sprintf("web-%04d", i%1000), Schedule: "disk-root", Created: now.Add(time.Duration(i))}
			ens = append(ens, state.EventNotifications{Notify: []state.Outgoing{o}})
		}
		if err := db.AddEventsWithNotifications(ens...); err != nil {
			b.Fatal(err)
		}
	}
	d := newDeliverer(db, slog.New(slog.DiscardHandler), clock.RealClock{}, NotifyConfig{RootCAs: hk.roots()}, metricset.New(false))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	go func() { defer close(done); d.run(ctx) }()
	for {
		st, err := db.OutboxStats()
		if err != nil {
			b.Fatal(err)
		}
		if st.Count[state.NotifyDelivered] == b.N {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	if got := hk.count.Load(); got < int64(b.N) {
		b.Fatalf("received %d of %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkHardChangeToWebhook is the time from a result that makes a
// hard change arriving at the monitor (the status table's record, as a
// schedule's loop calls it with the agent's answer) to the webhook's
// handler receiving its notification, one change at a time: a problem,
// then its recovery, and so on. It reports the median and the 99th
// percentile, and the same of the part until record returns (the status
// and the event with its notification stored).
func BenchmarkHardChangeToWebhook(b *testing.B) {
	hk := newBenchHook(b)
	arrived := make(chan time.Time, 1)
	hk.got = func(notify.Notification) { arrived <- time.Now() }
	db := benchStore(b, hk)
	// A status that changes at every result flaps; here it never does, so
	// that every change is told.
	never := &Flapping{Start: 100, End: 100}
	m, err := New(db, Config{Log: slog.New(slog.DiscardHandler), Flapping: never, Notify: &NotifyConfig{RootCAs: hk.roots()}}, metricset.New(false))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.Start(ctx)
	defer func() { cancel(); m.Stop() }()
	sch := state.Schedule{Name: "disk-root", Check: "disk", Every: time.Minute, Attempts: 1}
	m.status.record(ctx, "web-1", sch, result.Doc{Status: result.OK, Message: "fine"}, time.Now())
	lat := make([]time.Duration, 0, b.N)
	var stored []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		st := result.Critical
		if i%2 == 1 {
			st = result.OK
		}
		start := time.Now()
		m.status.record(ctx, "web-1", sch, result.Doc{Status: st, Message: "/ is 97.5% full"}, start)
		stored = append(stored, time.Since(start))
		select {
		case at := <-arrived:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatalf("change %d: no notification after 10s", i)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(stored)
	b.ReportMetric(float64(stored[len(stored)/2].Microseconds())/1000, "stored-p50-ms")
	b.ReportMetric(float64(stored[len(stored)*99/100].Microseconds())/1000, "stored-p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
