package browsertest

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/equus-monitoring/equus/internal/leakcheck"
	"github.com/equus-monitoring/equus/pki"
)

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Run(Stopping(m), "equus/internal/browsertest."))
}

// pageServer serves body at / over TLS with a certificate for 127.0.0.1
// of a CA the browser does not know, for key.
func pageServer(t *testing.T, key bool, body string) string {
	t.Helper()
	ca, err := pki.NewCA("browsertest CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServer([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if key {
		// The same name and CA, the run's key.
		tmpl := *cert.Leaf
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca.Cert, Key().Public(), ca.Key)
		if err != nil {
			t.Fatal(err)
		}
		cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: Key()}
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes of the other key
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

const narrow = `<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width"><title>narrow</title></head><body><p id="p">fits</p></body></html>`

const wide = `<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width"><title>wide</title></head><body><div id="p" style="width:500px">wider than a phone</div></body></html>`

func TestTrustsTheRunKeyOnly(t *testing.T) {
	ctx := Tab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(pageServer(t, true, narrow))); err != nil {
		t.Fatalf("the page served with the run's key: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("#p"))
	if err != nil || text != "fits" {
		t.Fatalf("the page served with the run's key: %q, %v", text, err)
	}
	_, err = chromedp.RunResponse(ctx, chromedp.Navigate(pageServer(t, false, narrow)))
	if err == nil || !strings.Contains(err.Error(), "ERR_CERT") {
		t.Fatalf("a page of another key loaded: %v; want a certificate error", err)
	}
}

func TestOverflow(t *testing.T) {
	ctx := Tab(t)
	for _, c := range []struct {
		name, body  string
		width, over int
	}{
		{"narrow-360", narrow, 360, 0},
		{"wide-360", wide, 360, 8 + 500 - 360}, // after the body's margin
		{"wide-1280", wide, 1280, 0},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(pageServer(t, true, c.body))); err != nil {
			t.Fatal(err)
		}
		SetWidth(t, ctx, c.width)
		over, inner := Overflow(t, ctx)
		if over != c.over || inner != c.width {
			t.Errorf("%s: %d px over at %d px wide, want %d at %d", c.name, over, inner, c.over, c.width)
		}
	}
}

func TestScreenshot(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(ArtifactsEnv, filepath.Join(dir, "artifacts"))
	ctx := Tab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(pageServer(t, true, narrow))); err != nil {
		t.Fatal(err)
	}
	Check(t, ctx, "narrow")
	for _, w := range Widths {
		b, err := os.ReadFile(filepath.Join(dir, "artifacts", fmt.Sprintf("narrow-%d.png", w)))
		if err != nil || !strings.HasPrefix(string(b), "\x89PNG\r\n\x1a\n") {
			t.Errorf("screenshot at %d px: %d bytes, %v; want a PNG", w, len(b), err)
		}
	}
}

// The browser's processes are found by its directory, so that Run can tell
// whether any is left behind.
func TestFindsTheBrowsersProcesses(t *testing.T) {
	Tab(t)
	browser.mu.Lock()
	dir := browser.dir
	browser.mu.Unlock()
	if n := len(processesWith(dir)); n < 2 {
		t.Errorf("%d processes of the browser found, want its main one and its children", n)
	}
}
