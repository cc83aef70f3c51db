// Package recording keeps helen's shell sessions as asciicast v2 files
// (https://docs.asciinema.org/manual/asciicast/v2/): a header line, then
// one JSON array a line for each output, input or resize, timed in
// seconds from the start, so that `asciinema play` replays them. Beside
// each NAME.cast is NAME.json, the session's summary (who, what, when,
// how it ended), which the listing reads without reading the casts.
//
// The directory has a bound of bytes: a session whose recording would
// take the directory past it is ended (ErrFull), and none begins while
// it is full. Retention (Dir.Prune) removes the recordings older than an
// age; nothing else removes one.
package recording

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// ErrFull ends a recording that would take the directory past its bound
// of bytes, and refuses one that would begin while it is there.
var ErrFull = errors.New("recording: the sessions directory is at its bound of bytes")

// ErrNotFound is a recording that is not there.
var ErrNotFound = errors.New("recording: no such session")

// Header is the first line of a recording: asciicast v2's keys, and ours
// (who opened it, on which agent, as which user, running what).
type Header struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`

	Who     string   `json:"who"`
	Agent   string   `json:"agent"`
	User    string   `json:"user"`
	Command []string `json:"command"`
}

// Summary is a session as the listing shows it (NAME.json).
type Summary struct {
	ID      string    `json:"id"`
	Who     string    `json:"who"`
	Agent   string    `json:"agent"`
	User    string    `json:"user"`
	Command []string  `json:"command"`
	TTY     bool      `json:"tty"`
	Start   time.Time `json:"start"`
	// End is zero while the session runs, and for one whose helen
	// stopped before it ended.
	End      time.Time `json:"end,omitzero"`
	Duration float64   `json:"duration_s,omitempty"`
	Status   *int      `json:"status,omitempty"` // the exit status, when it exited
	Signal   string    `json:"signal,omitempty"` // the signal that ended it
	Error    string    `json:"error,omitempty"`  // why it ended otherwise
	Bytes    int64     `json:"bytes"`            // of the recording
}

// Event codes of asciicast v2.
const (
	Output = "o"
	Input  = "i"
	Resize = "r"
)

// idPattern is a session's id: the start's time and random hex, so that
// ids sort in time and name files.
var idPattern = regexp.MustCompile(`^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$`)

// CheckID returns an error unless id is a session id.
func CheckID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("session id %q: want YYYYMMDD-HHMMSS-xxxxxxxx", id)
	}
	return nil
}

// NewID returns a fresh session id for a session begun at now.
func NewID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// Dir is the directory of the recordings, with its bound of bytes.
type Dir struct {
	path     string
	maxBytes int64
	used     atomic.Int64 // the bytes of every file in it, as written
}

// Open opens (making it) the directory at path, bound to maxBytes.
func Open(path string, maxBytes int64) (*Dir, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("recording: bound of %d bytes: want a positive one", maxBytes)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	d := &Dir{path: path, maxBytes: maxBytes}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			d.used.Add(info.Size())
		}
	}
	return d, nil
}

// Path is the directory's.
func (d *Dir) Path() string { return d.path }

// Used is the bytes the directory holds.
func (d *Dir) Used() int64 { return d.used.Load() }

// reserve takes n bytes of the bound, or reports false.
func (d *Dir) reserve(n int64) bool {
	for {
		u := d.used.Load()
		if u+n > d.maxBytes {
			return false
		}
		if d.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Recorder writes one session's recording. Its methods are safe to call
// from the relay's two directions at once.
type Recorder struct {
	dir   *Dir
	start time.Time
	now   func() time.Time

	mu      sync.Mutex
	f       *os.File
	sum     Summary
	partial map[string][]byte // an incomplete UTF-8 sequence at the end of the last data, by event code
	err     error             // the first failure: nothing more is written
	buf     []byte
}

// Create begins the recording of a session: its cast with the header and
// its summary, both on disk before it returns. now is the recording's
// clock (nil: time.Now).
func (d *Dir) Create(h Header, sum Summary, now func() time.Time) (*Recorder, error) {
	if err := CheckID(sum.ID); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	start := now()
	h.Version = 2
	h.Timestamp = start.Unix()
	sum.Start = start
	line, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	line = append(line, '\n')
	if !d.reserve(int64(len(line))) {
		return nil, ErrFull
	}
	f, err := os.OpenFile(d.cast(sum.ID), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		d.used.Add(-int64(len(line)))
		return nil, fmt.Errorf("recording: %w", err)
	}
	r := &Recorder{dir: d, start: start, now: now, f: f, sum: sum, partial: map[string][]byte{}}
	if _, err := f.Write(line); err != nil {
		f.Close()
		os.Remove(d.cast(sum.ID))
		d.used.Add(-int64(len(line)))
		return nil, fmt.Errorf("recording: %w", err)
	}
	r.sum.Bytes = int64(len(line))
	if err := r.writeSummary(); err != nil {
		f.Close()
		os.Remove(d.cast(sum.ID))
		d.used.Add(-int64(len(line)))
		return nil, err
	}
	return r, nil
}

func (d *Dir) cast(id string) string    { return filepath.Join(d.path, id+".cast") }
func (d *Dir) summary(id string) string { return filepath.Join(d.path, id+".json") }

// Event records data under code (Output, Input, Resize) at the
// recording's now. Data is written as UTF-8: a sequence that a read cut
// in two is kept until the rest comes, and bytes that are not UTF-8 are
// written as U+FFFD, as asciinema does. It returns ErrFull once the
// directory's bound is reached, or the write's error: the session ends.
func (r *Recorder) Event(code string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if code != Resize {
		if len(r.partial[code]) > 0 {
			data = append(r.partial[code], data...)
		}
		cut := incompleteTail(data)
		r.partial[code] = append(r.partial[code][:0], data[len(data)-cut:]...)
		data = data[:len(data)-cut]
		if len(data) == 0 {
			return nil
		}
	}
	t := r.now().Sub(r.start).Seconds()
	r.buf = append(r.buf[:0], '[')
	r.buf = fmt.Appendf(r.buf, "%.6f", t)
	r.buf = append(r.buf, ',', '"')
	r.buf = append(r.buf, code...)
	r.buf = append(r.buf, '"', ',')
	r.buf = appendJSONString(r.buf, data)
	r.buf = append(r.buf, ']', '\n')
	if !r.dir.reserve(int64(len(r.buf))) {
		r.err = ErrFull
		return r.err
	}
	if _, err := r.f.Write(r.buf); err != nil {
		r.dir.used.Add(-int64(len(r.buf)))
		r.err = fmt.Errorf("recording: %w", err)
		return r.err
	}
	r.sum.Bytes += int64(len(r.buf))
	return nil
}

// ResizeEvent records a resize to cols by rows.
func (r *Recorder) ResizeEvent(cols, rows int) error {
	return r.Event(Resize, fmt.Appendf(nil, "%dx%d", cols, rows))
}

// incompleteTail is how many bytes at the end of b begin a UTF-8
// sequence that is not complete yet (0 to 3).
func incompleteTail(b []byte) int {
	for n := 1; n <= utf8.UTFMax-1 && n <= len(b); n++ {
		c := b[len(b)-n]
		if !utf8.RuneStart(c) {
			continue
		}
		need := 0
		switch {
		case c&0xE0 == 0xC0:
			need = 2
		case c&0xF0 == 0xE0:
			need = 3
		case c&0xF8 == 0xF0:
			need = 4
		}
		if need > n {
			return n
		}
		return 0
	}
	return 0
}

// Summary is the session's summary as it stands.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sum
}

// Close ends the recording with how the session ended: its exit status
// (nil: it did not exit), the signal that ended it, or why else it did.
func (r *Recorder) Close(status *int, signal, why string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.now()
	r.sum.End = end
	r.sum.Duration = end.Sub(r.start).Seconds()
	r.sum.Status, r.sum.Signal, r.sum.Error = status, signal, why
	err := r.f.Close()
	if serr := r.writeSummary(); err == nil {
		err = serr
	}
	return err
}

// writeSummary writes the summary through a file renamed over the old,
// so that a reader sees one or the other, whole. Its bytes count in the
// bound but never refuse: a summary is small, and the session's end must
// be recorded.
func (r *Recorder) writeSummary() error {
	b, err := json.Marshal(r.sum)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	b = append(b, '\n')
	path := r.dir.summary(r.sum.ID)
	old := int64(0)
	if info, err := os.Stat(path); err == nil {
		old = info.Size()
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("recording: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("recording: %w", err)
	}
	r.dir.used.Add(int64(len(b)) - old)
	return nil
}

// List returns the summaries of the recordings, newest first.
func (d *Dir) List() ([]Summary, error) {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	var out []Summary
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || CheckID(id) != nil {
			continue
		}
		s, err := d.Get(id)
		if err != nil {
			continue // removed meanwhile, or half written by a crash
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(b.ID, a.ID) })
	return out, nil
}

// Get returns the summary of session id.
func (d *Dir) Get(id string) (Summary, error) {
	if err := CheckID(id); err != nil {
		return Summary{}, err
	}
	b, err := os.ReadFile(d.summary(id))
	if errors.Is(err, fs.ErrNotExist) {
		return Summary{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Summary{}, fmt.Errorf("recording: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return Summary{}, fmt.Errorf("recording %s: %w", id, err)
	}
	return s, nil
}

// OpenCast opens the cast of session id for reading.
func (d *Dir) OpenCast(id string) (*os.File, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	f, err := os.Open(d.cast(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return f, err
}

// Prune removes the recordings of sessions begun before cutoff, but not
// those still running (live), and returns how many it removed.
func (d *Dir) Prune(cutoff time.Time, live func(id string) bool) (int, error) {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return 0, fmt.Errorf("recording: %w", err)
	}
	n := 0
	for _, e := range ents {
		name := e.Name()
		id, _, _ := strings.Cut(name, ".")
		if CheckID(id) != nil || (live != nil && live(id)) {
			continue
		}
		begun, err := time.Parse("20060102-150405", id[:15])
		if err != nil || !begun.Before(cutoff) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if err := os.Remove(filepath.Join(d.path, name)); err != nil {
			return n, fmt.Errorf("recording: %w", err)
		}
		d.used.Add(-info.Size())
		if strings.HasSuffix(name, ".cast") {
			n++
		}
	}
	return n, nil
}

// OpenExisting opens the directory at path to read it (List, Get,
// OpenCast), making nothing.
func OpenExisting(path string) (*Dir, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("recording: %s: no sessions recorded yet", path)
	}
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("recording: %s is not a directory", path)
	}
	return &Dir{path: path}, nil
}

// appendJSONString appends data to dst as a JSON string, its bytes that
// are not UTF-8 as U+FFFD (as asciinema records them): what
// json.Marshal(strings.ToValidUTF8(string(data), "\uFFFD")) writes (a run
// of such bytes one U+FFFD), up
// to the escapes of <, >, & and U+2028/2029 that it adds for HTML, in
// one pass and without a copy. A session's output is all of a
// recording, and encoding/json's copies and checks took two thirds of
// helen's CPU under a flood of it (tools/equus-load/shell.sh).
func appendJSONString(dst, data []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0     // of the run of bytes that go as they are
	afterBad := -1 // the index after the last byte that is not UTF-8
	for i := 0; i < len(data); {
		c := data[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			if r, size := utf8.DecodeRune(data[i:]); r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
		}
		dst = append(dst, data[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			if c >= utf8.RuneSelf { // not UTF-8: one U+FFFD a run of them
				if afterBad != i {
					dst = append(dst, "\uFFFD"...)
				}
				afterBad = i + 1
			} else {
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
		}
		i++
		start = i
	}
	dst = append(dst, data[start:]...)
	return append(dst, '"')
}
