package leakcheck

import (
	"strings"
	"sync"
	"testing"
	"time"
)

const self = "equus/internal/leakcheck."

// parked blocks until release is closed: a goroutine of this package's
// code for the checks to find.
func parked(started chan<- struct{}, release <-chan struct{}, done *sync.WaitGroup) {
	defer done.Done()
	close(started)
	<-release
}

// park starts parked, waits until it runs, and returns the function that
// ends it and waits for it to end.
func park() (stop func()) {
	started, release := make(chan struct{}), make(chan struct{})
	var done sync.WaitGroup
	done.Add(1)
	go parked(started, release, &done)
	<-started
	return func() {
		close(release)
		done.Wait()
	}
}

// withParked returns the stacks of LeftBehind that run parked.
func withParked(stacks []string) []string {
	var out []string
	for _, s := range stacks {
		if strings.Contains(s, self+"parked(") {
			out = append(out, s)
		}
	}
	return out
}

func TestLeftBehind(t *testing.T) {
	stop := park()
	if got := withParked(LeftBehind(self)); len(got) != 1 {
		t.Errorf("LeftBehind(%q) found %d goroutines running parked, want 1", self, len(got))
	}
	if got := withParked(LeftBehind("equus/no-such-package.")); len(got) != 0 {
		t.Errorf("LeftBehind of another package found parked: %q", got)
	}
	stop()
	if got := withParked(LeftBehind(self)); len(got) != 0 {
		t.Errorf("LeftBehind(%q) after the goroutine ended: %q", self, got)
	}
}

// fakeM is a test binary's tests: Run runs run.
type fakeM struct{ run func() int }

func (m fakeM) Run() int { return m.run() }

func TestRun(t *testing.T) {
	// The frame of parked only: the test's own goroutine runs code of
	// this package too, where TestMain's would be left out.
	only := self + "parked("
	if code := Run(fakeM{func() int { return 0 }}, only); code != 0 {
		t.Errorf("Run of passing tests that leave nothing: %d, want 0", code)
	}
	if code := Run(fakeM{func() int { return 3 }}, only); code != 3 {
		t.Errorf("Run of failing tests: %d, want their code 3", code)
	}
	ended := make(chan struct{})
	soon := func() int {
		stop := park()
		go func() {
			defer close(ended)
			time.Sleep(20 * time.Millisecond)
			stop()
		}()
		return 0
	}
	if code := Run(fakeM{soon}, only); code != 0 {
		t.Errorf("Run of tests whose goroutine ends soon after: %d, want 0", code)
	}
	<-ended
	var stop func()
	var stderr strings.Builder
	if code := run(fakeM{func() int { stop = park(); return 0 }}, &stderr, []string{only}); code != 1 || !strings.Contains(stderr.String(), only) {
		t.Errorf("Run of passing tests that leave a goroutine: %d, want 1 and its stack; wrote %q", code, stderr.String())
	}
	stop()
}

// recorder is a testing.TB whose cleanups run when asked and whose
// errors are kept.
type recorder struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (r *recorder) Cleanup(f func())                  { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, args ...any) { r.errors = append(r.errors, format) }
func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestTest(t *testing.T) {
	r := &recorder{}
	Test(r, 50*time.Millisecond)
	stop := park()
	r.end()
	stop()
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "goroutines left behind") {
		t.Errorf("a test that leaves a goroutine: errors %q, want one", r.errors)
	}

	r = &recorder{}
	Test(r, 5*time.Second)
	stop = park()
	stop()
	r.end()
	if len(r.errors) != 0 {
		t.Errorf("a test that leaves nothing: errors %q", r.errors)
	}

	// One left behind while an older one ends is still left behind.
	older := park()
	r = &recorder{}
	Test(r, 50*time.Millisecond)
	stop = park()
	older()
	r.end()
	stop()
	if len(r.errors) != 1 {
		t.Errorf("a test that leaves a goroutine while an older one ends: errors %q, want one", r.errors)
	}
}
