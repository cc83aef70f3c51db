package equus

import (
	"testing"

	"github.com/equus-monitoring/equus/wire"
)

// benchmarkChecks measures checks answered per second over one mutual TLS
// session, with up to window checks outstanding, as helen pipelines them.
func benchmarkChecks(b *testing.B, name string, args []byte) {
	p := newTestPKI(b)
	h := startHelen(b, p)
	cfg := testConfig(b, p, h)
	startAgent(b, cfg)
	hc := h.accept()
	const window = 128
	tokens := make(chan struct{}, window)
	sendErr := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		hc.wmu.Lock()
		defer hc.wmu.Unlock()
		for i := 0; i < b.N; i++ {
			if len(tokens) == window {
				// About to wait: send what is buffered first.
				if err := hc.w.Flush(); err != nil {
					sendErr <- err
					return
				}
			}
			tokens <- struct{}{}
			if err := hc.w.Write(wire.Check(name, int32(i%1_000_000+1), args)); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- hc.w.Flush()
	}()
	for i := 0; i < b.N; i++ {
		m := hc.next()
		if m.Kind != wire.KindResult || m.Name != name {
			b.Fatalf("got %s %s", m.Kind, m.Name)
		}
		<-tokens
	}
	b.StopTimer()
	if err := <-sendErr; err != nil {
		b.Fatal(err)
	}
}

func BenchmarkPing(b *testing.B)      { benchmarkChecks(b, "equus.ping", nil) }
func BenchmarkLuaCheck(b *testing.B)  { benchmarkChecks(b, "fast", []byte(`{"tag":"x"}`)) }
func BenchmarkInfoCheck(b *testing.B) { benchmarkChecks(b, "equus.info", nil) }
