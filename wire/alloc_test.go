package wire

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// headerOnly serves one command line and fails the test if asked for more:
// a blob too large is refused from the line alone.
type headerOnly struct {
	t    *testing.T
	line string
	done bool
}

func (h *headerOnly) Read(p []byte) (int, error) {
	if h.done {
		h.t.Errorf("read past the command line %q", h.line)
		return 0, errors.New("read past the command line")
	}
	h.done = true
	return copy(p, h.line), nil
}

var tooLarge = []struct{ name, line string }{
	{"blob-too-large-no-alloc", "check x 1 1048577\n"},
	{"blob-too-large-int-max-no-alloc", "result 1 x 2147483647\n"},
}

func TestBlobTooLargeReadsOnlyTheLine(t *testing.T) {
	for _, tc := range tooLarge {
		_, err := NewReader(&headerOnly{t: t, line: tc.line}).Read()
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Code != CodeBlobTooLarge || pe.InSync {
			t.Errorf("%s: Read = %v; want blob_too_large out of sync", tc.name, err)
		}
	}
}

func TestBlobTooLargeNoAlloc(t *testing.T) {
	for _, tc := range tooLarge {
		t.Run(tc.name, func(t *testing.T) { testNoAlloc(t, tc.line) })
	}
}

func testNoAlloc(t *testing.T, line string) {
	r := NewReader(strings.NewReader(line))
	read := func() {
		// The error is sticky, so each run reads it again; rebuilding
		// the reader each time would measure its own buffer instead.
		if _, err := r.Read(); err == nil {
			t.Fatal("Read succeeded")
		}
	}
	read()
	if n := testing.AllocsPerRun(10, read); n != 0 {
		t.Errorf("Read again after %q: %v allocations", line, n)
	}

	// The first Read: a few small allocations for the error, never the
	// declared length.
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		_, _ = NewReader(strings.NewReader(line)).Read()
	}
	runtime.ReadMemStats(&after)
	perRead := (after.TotalAlloc - before.TotalAlloc) / runs
	if perRead > 2*MaxLine {
		t.Errorf("Read(%q) allocated %d bytes; want at most the line buffer", line, perRead)
	}
	allocs := testing.AllocsPerRun(runs, func() {
		_, _ = NewReader(strings.NewReader(line)).Read()
	})
	// The Reader, its buffer, the error and its detail: a handful of
	// small ones, more under the race detector. The bytes above are
	// what keeps the declared length from being allocated.
	if allocs > 10 {
		t.Errorf("Read(%q): %v allocations; want at most 10", line, allocs)
	}
}
