// Package browsertest drives a real headless Chromium (Debian's chromium)
// for the tests of the console, with chromedp: one browser for a test
// binary's run, started by the first test that asks for a tab, with a
// profile of its own in a temporary directory, and stopped by Run once
// the tests ended, leaving no process of it behind.
//
// The browser trusts one TLS key besides the system's roots: Key, made
// for the run. A server under test that serves it (helen keeps the key
// found in its data directory) is trusted by its key, pinned, as a Go
// test client trusts its test server's own certificate; the certificate
// is still checked for the handshake, and nothing else is let through.
package browsertest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// RequireEnv, set to 1 (as CI does), makes a missing chromium fail the
// tests that need it instead of skipping them.
const RequireEnv = "EQUUS_REQUIRE_CHROMIUM"

// ArtifactsEnv names the directory screenshots are written to; without
// it they go to the test's temporary directory.
const ArtifactsEnv = "EQUUS_ARTIFACTS"

// TabTimeout bounds what a test does in its tab, so that a page that
// never loads fails the test instead of hanging the run.
const TabTimeout = 2 * time.Minute

// stopWithin is how long Run waits for the browser's processes to end
// once it asked the browser to stop.
const stopWithin = 10 * time.Second

// Binary returns the path of the chromium executable, or skips the test
// when there is none (fails it with EQUUS_REQUIRE_CHROMIUM=1).
func Binary(t testing.TB) string {
	t.Helper()
	path, err := find()
	if err == nil {
		return path
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%v, and %s=1 (apt-get install chromium)", err, RequireEnv)
	}
	t.Skipf("%v (apt-get install chromium); %s=1 makes this a failure", err, RequireEnv)
	return ""
}

// find looks for chromium on PATH, then where Debian installs it.
func find() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return "", errors.New("no chromium on PATH or at /usr/bin/chromium")
}

// Key returns the TLS private key of the run that the browser trusts.
func Key() crypto.Signer { return runKey().key }

// KeyPEM returns Key as PKCS #8 PEM, as a server reads it from a file.
func KeyPEM() []byte { return runKey().pem }

type keyOfRun struct {
	key  *ecdsa.PrivateKey
	pem  []byte
	spki string // base64 of the SHA-256 of its public key, as chromium takes it
}

var runKey = sync.OnceValue(func() keyOfRun {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(spki)
	return keyOfRun{
		key:  key,
		pem:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		spki: base64.StdEncoding.EncodeToString(sum[:]),
	}
})

// browser is the run's browser, once a test asked for it.
var browser struct {
	mu      sync.Mutex
	started bool
	err     error // why it did not start
	dir     string
	ctx     context.Context // the browser's first tab; tabs are its children
	stop    func()          // closes the browser and waits for its process
}

// Tab returns the context of a new tab of the run's browser, starting the
// browser if it is the first; the tab closes when the test ends, and what
// the test does in it must end within TabTimeout. It skips the test
// without chromium (see Binary).
func Tab(t testing.TB) context.Context {
	t.Helper()
	bin := Binary(t)
	bctx, err := start(bin)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	tab, closeTab := chromedp.NewContext(bctx)
	ctx, cancel := context.WithTimeout(tab, TabTimeout)
	t.Cleanup(func() {
		cancel()
		closeTab()
	})
	if err := chromedp.Do(tab); err != nil { // opens the tab
		t.Fatalf("browser: new tab: %v", err)
	}
	return ctx
}

// start starts the browser once, and returns its context.
func start(bin string) (context.Context, error) {
	b := &browser
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return b.ctx, b.err
	}
	b.started = true
	dir, err := os.MkdirTemp("", "equus-browser-")
	if err != nil {
		b.err = err
		return nil, err
	}
	b.dir = dir
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		// Chromium's sandbox needs user namespaces that a root process
		// in a container (as CI runs the tests) is not given: it refuses
		// to start as root without this flag. As another user the
		// sandbox stays on.
		chromedp.Flag("no-sandbox", os.Geteuid() == 0),
		// The one key trusted besides the system's roots (honoured only
		// with a profile directory of the command line's, as above).
		chromedp.Flag("ignore-certificate-errors-spki-list", runKey().spki),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1280, 800),
		// Everything it writes goes under dir, removed when it stopped:
		// its crash handler's database and caches go under HOME.
		chromedp.Env("HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
			"XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "TMPDIR="+dir),
	)
	actx, stopAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, closeBrowser := chromedp.NewContext(actx)
	b.stop = func() {
		closeBrowser()
		stopAlloc()
	}
	if err := chromedp.Do(bctx); err != nil {
		b.err = fmt.Errorf("start %s: %w", bin, err)
		return nil, b.err
	}
	b.ctx = bctx
	return bctx, nil
}

// Run runs the tests of m, then stops the browser if one started, and
// returns the exit code: not 0 also when the browser left a process
// behind. Pass it to leakcheck.Run from TestMain:
//
//	leakcheck.Run(browsertest.Stopping(m), "equus/e2e.")
func Run(m interface{ Run() int }) int {
	code := m.Run()
	if err := stopBrowser(); err != nil {
		fmt.Fprintln(os.Stderr, "browsertest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Stopping returns m with its Run doing what Run does.
func Stopping(m interface{ Run() int }) interface{ Run() int } { return stopping{m} }

type stopping struct{ m interface{ Run() int } }

func (s stopping) Run() int { return Run(s.m) }

// stopBrowser closes the browser, waits for every process that names its
// directory (each has its profile or its crash database there) to end,
// and removes the directory.
func stopBrowser() error {
	b := &browser
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started {
		return nil
	}
	if b.stop != nil {
		b.stop()
	}
	var err error
	if b.dir != "" {
		deadline := time.Now().Add(stopWithin)
		left := processesWith(b.dir)
		for len(left) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			left = processesWith(b.dir)
		}
		if len(left) > 0 {
			err = fmt.Errorf("the browser left %d processes behind (killed now): %s", len(left), strings.Join(describe(left), "; "))
			kill(left)
		}
		if rmErr := os.RemoveAll(b.dir); rmErr != nil && err == nil {
			err = rmErr
		}
	}
	b.started, b.err, b.dir, b.ctx, b.stop = false, nil, "", nil, nil
	return err
}
