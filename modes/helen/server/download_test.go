package server

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/agentapi"
	"github.com/equus-monitoring/equus/pki"
)

// bigBinary is helen's executable for the download tests: larger than
// what loopback's socket buffers hold, so that a download whose client
// does not read stays in its handler.
const bigBinary = 32 << 20

// startBigHelen starts a helen that offers a bigBinary-byte binary.
func startBigHelen(t *testing.T, cfg Config) *testHelen {
	t.Helper()
	cfg.Executable = filepath.Join(t.TempDir(), "equus")
	f, err := os.Create(cfg.Executable)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(bigBinary); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return startHelen(t, cfg)
}

// stalled is a download without a certificate whose client read the
// response's headers and then stops reading.
type stalled struct {
	c    *tls.Conn
	resp *http.Response
}

// startDownload sends GET /v1/download on a connection of its own and
// reads the response's headers.
func startDownload(t *testing.T, h *testHelen) stalled {
	t.Helper()
	cfg, err := pki.ClientConfig(pki.Trust{CA: h.srv.CA().Cert}, "127.0.0.1", nil, []string{"http/1.1"})
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(dialFrom(t, "127.0.0.1", h.addr()), cfg)
	tc.SetDeadline(time.Now().Add(waitFor))
	fmt.Fprintf(tc, "GET /v1/download?os=%s&arch=%s HTTP/1.1\r\nHost: helen\r\n\r\n", runtime.GOOS, runtime.GOARCH)
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	tc.SetDeadline(time.Time{})
	return stalled{tc, resp}
}

// TestDownloadBound: clients without a certificate that start downloads
// and never read them hold at most agentapi.MaxDownloads; past it a download is
// answered 503 with Retry-After, until one of them ends.
func TestDownloadBound(t *testing.T) {
	h := startBigHelen(t, Config{})
	var held []stalled
	for range agentapi.MaxDownloads {
		d := startDownload(t, h)
		if d.resp.StatusCode != http.StatusOK {
			t.Fatalf("download within the bound: %s", d.resp.Status)
		}
		held = append(held, d)
	}
	for range 3 {
		d := startDownload(t, h)
		if d.resp.StatusCode != http.StatusServiceUnavailable || d.resp.Header.Get("Retry-After") == "" {
			t.Fatalf("download past the bound: %s, Retry-After %q", d.resp.Status, d.resp.Header.Get("Retry-After"))
		}
		d.c.Close()
	}
	held[0].c.Close()
	poll(t, "a download to be served again", func() bool {
		d := startDownload(t, h)
		defer d.c.Close()
		return d.resp.StatusCode == http.StatusOK
	})
}

// TestDownloadTimeLimit: a client that reads a download slowly enough
// that it never stalls for agentapi.WriteTimeout is cut at the download's time
// limit, and gives its place back.
func TestDownloadTimeLimit(t *testing.T) {
	h := startBigHelen(t, Config{downloadTimeout: time.Second})
	d := startDownload(t, h)
	defer d.c.Close()
	if d.resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %s", d.resp.Status)
	}
	// 32 KiB every 20 ms: bigBinary in some 20 s, longer than waitFor.
	d.c.SetReadDeadline(time.Now().Add(waitFor))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var got int64
	var err error
	for err == nil {
		<-tick.C
		var n int64
		n, err = io.CopyN(io.Discard, d.resp.Body, 32<<10)
		got += n
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the download went on past %v (%d bytes read)", waitFor, got)
	}
	if got >= bigBinary {
		t.Fatalf("the whole download came in %v", time.Second)
	}
	poll(t, "the download's place given back", func() bool { return h.srv.agents.Downloads() == 0 })
}

// TestAgentsPortNoHTTP2: a client that offers h2 on the agents' port gets
// HTTP/1.1, one request at a time per connection, so that the
// connection bounds bound the requests too.
func TestAgentsPortNoHTTP2(t *testing.T) {
	h := startHelen(t, Config{})
	cfg, err := pki.ClientConfig(pki.Trust{CA: h.srv.CA().Cert}, "127.0.0.1", nil, []string{"h2", "http/1.1"})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: waitFor}).Get("https://" + h.addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Fatalf("agents' port spoke %s (ALPN %q), want HTTP/1.1", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
}
