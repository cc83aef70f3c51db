package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rssKiB returns the resident set of process pid, in KiB.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// countWriter counts the bytes written to it.
type countWriter struct{ n atomic.Int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// The bounds TestShellFlood asserts: far above what a session costs, so
// that only output held without bound (the flood queued in memory) or
// checks stuck behind it fail them.
const (
	floodBytes     = 100 << 20        // output of the session
	floodRSSBound  = 100 << 10        // KiB: neither helen nor the agent grows past this
	floodCheckTime = 10 * time.Second // a check's deadline (helen run --timeout)
	floodDeadline  = 5 * time.Minute  // the whole flood
)

// TestShellFlood: while a session pushes 100 MB of output through helen
// to an operator, checks on the same agent keep answering within their
// deadline, and helen's and the agent's RSS stay under floodRSSBound. It
// logs the figures: the checks' latencies, the peak RSS of each and the
// session's rate.
func TestShellFlood(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("reads RSS from /proc")
	}
	h := startHelen(t, built[v100])
	agent := startProc(t, "web-1", built[v100], "equus", "--helen", h.addr, "--ca-pin", h.pin, "--token", h.token(t).Token,
		"--name", "web-1", "--data", filepath.Join(t.TempDir(), "web-1"), "--allow-shell")
	h.agentReady(t, "web-1", v100, time.Minute)
	hp, ap := h.cmd.Process.Pid, agent.cmd.Process.Pid
	h0, a0 := rssKiB(t, hp), rssKiB(t, ap)

	var out countWriter
	sh := exec.Command(h.bin, "helen", "shell", "--data", h.data, "web-1", "--", "head", "-c", strconv.Itoa(floodBytes), "/dev/zero")
	sh.Env = testEnv(t)
	sh.Stdout, sh.Stderr = &out, io.Discard
	sh.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	shellDone := make(chan error, 1)
	go func() { shellDone <- sh.Wait() }()

	var (
		mu             sync.Mutex
		hPeak, aPeak   = h0, a0
		checks         []time.Duration
		late, failures []string
	)
	sample := func() {
		hr, ar := rssKiB(t, hp), rssKiB(t, ap)
		mu.Lock()
		hPeak, aPeak = max(hPeak, hr), max(aPeak, ar)
		mu.Unlock()
	}
	// The checks: one after the other on the flooded agent, each with
	// its deadline, for as long as the flood runs.
	checksDone := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(checksDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			cmd := exec.Command(h.bin, "helen", "run", "web-1", "equus.ping", "--timeout", floodCheckTime.String(), "--data", h.data)
			cmd.Env = testEnv(t)
			b, err := cmd.CombinedOutput()
			d := time.Since(t0)
			mu.Lock()
			checks = append(checks, d)
			if err != nil {
				failures = append(failures, fmt.Sprintf("%v: %s", err, b))
			}
			mu.Unlock()
		}
	}()
	var err error
	func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		limit := time.After(floodDeadline)
		for {
			select {
			case err = <-shellDone:
				return
			case <-tick.C:
				sample()
			case <-limit:
				sh.Process.Kill()
				err = fmt.Errorf("the flood did not end within %v (%d bytes out)", floodDeadline, out.n.Load())
				<-shellDone
				return
			}
		}
	}()
	took := time.Since(start)
	close(stop)
	<-checksDone
	sample()

	if err != nil {
		t.Fatalf("helen shell: %v", err)
	}
	if out.n.Load() != floodBytes {
		t.Errorf("the session printed %d bytes, want %d", out.n.Load(), floodBytes)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, d := range checks {
		if d > floodCheckTime {
			late = append(late, d.String())
		}
	}
	slices.Sort(checks)
	t.Logf("%d MB in %v (%.1f MB/s, with the checks' processes beside it); %d checks of equus.ping during it, median %v, max %v",
		floodBytes>>20, took.Round(time.Millisecond), float64(floodBytes)/took.Seconds()/1e6, len(checks),
		checks[len(checks)/2].Round(time.Millisecond), checks[len(checks)-1].Round(time.Millisecond))
	t.Logf("RSS: helen %d KiB before, peak %d KiB; the agent %d KiB before, peak %d KiB (bound %d KiB each)", h0, hPeak, a0, aPeak, floodRSSBound)
	if len(checks) == 0 {
		t.Error("no check ran during the flood")
	}
	if len(failures) > 0 || len(late) > 0 {
		t.Errorf("checks during the flood: %d failed %q, %d past their %v deadline %v", len(failures), failures, len(late), floodCheckTime, late)
	}
	if hPeak > floodRSSBound || aPeak > floodRSSBound {
		t.Errorf("peak RSS helen %d KiB, the agent %d KiB: want each under %d KiB", hPeak, aPeak, floodRSSBound)
	}
}
