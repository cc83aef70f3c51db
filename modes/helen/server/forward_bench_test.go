package server

import (
	"context"
	"log/slog"
	"testing"

	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/result"
)

// BenchmarkForwardedPing measures a run of equus.ping on an agent, one at
// a time, over real TLS on loopback: asked of the helen that holds it
// (direct), and of another that forwards it over the peer listener
// (forwarded); through the Server (what the API, the admin socket and the
// console call) and through the admin socket (as helen run asks). The
// difference between direct and forwarded is what forwarding adds.
func BenchmarkForwardedPing(b *testing.B) {
	a, h, da, _ := startPeers(b, Config{Log: slog.New(slog.DiscardHandler)})
	agent := startAgent(b, h, "bench", behavior{Forget: true})
	agent.Ready()
	da.set("bench", h)
	benchPings(b, h, a)
}

// benchPings times the agent bench's ping run on the helen that holds it
// (direct) and on one that forwards it there (forwarded), each through
// the Server and through the admin socket.
func benchPings(b *testing.B, h, a *testHelen) {
	for _, bb := range []struct {
		name string
		via  *testHelen
	}{{"direct", h}, {"forwarded", a}} {
		b.Run(bb.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				doc, err := bb.via.srv.Run(ctx, "bench", "equus.ping", nil, waitFor)
				if err != nil || doc.Status != result.OK {
					b.Fatalf("ping: %+v %v", doc, err)
				}
			}
		})
		b.Run(bb.name+"-admin-socket", func(b *testing.B) {
			sock := adminFor(b, bb.via)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				var doc result.Doc
				if err := sock.do(ctx, "POST", "/v1/agents/bench/run", web.RunRequest{Check: "equus.ping"}, &doc); err != nil || doc.Status != result.OK {
					b.Fatalf("ping: %+v %v", doc, err)
				}
			}
		})
	}
}
