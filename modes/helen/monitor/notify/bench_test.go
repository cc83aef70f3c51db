package notify

import (
	"context"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkWebhook delivers notifications, signed, to a webhook receiver
// over TLS on loopback, from 8×GOMAXPROCS senders at once (the outbox's
// workers), and reports deliveries per second.
func BenchmarkWebhook(b *testing.B) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	// The transport's dials that lose their race for a request are
	// closed mid-handshake when the benchmark ends; that is not news.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	w := &Webhook{URL: srv.URL + "/", RootCAs: pool, Secret: []byte("secret")}
	defer w.CloseIdleConnections()
	n := Sample(Problem)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.Send(context.Background(), n); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
