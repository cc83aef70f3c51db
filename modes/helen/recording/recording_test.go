package recording

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// clock is a recording's clock that the test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)} }
func summaryOf(id string) Summary {
	return Summary{ID: id, Who: "admin", Agent: "web1", User: "root", Command: []string{"sh"}, TTY: true}
}
func headerOf() Header {
	return Header{Width: 80, Height: 24, Env: map[string]string{"TERM": "xterm-256color"}, Who: "admin", Agent: "web1", User: "root"}
}
func readAll(t *testing.T, d *Dir, id string) (Header, []Event) {
	t.Helper()
	f, err := d.OpenCast(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f)
	h, err := r.Header()
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return h, evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

func TestRoundTrip(t *testing.T) {
	d, err := Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	id := NewID(clk.t)
	rec, err := d.Create(headerOf(), summaryOf(id), clk.now)
	if err != nil {
		t.Fatal(err)
	}
	snow := []byte("snow ☃\r\n")
	cut := bytes.IndexRune(snow, '☃') + 1 // inside the snowman's three bytes
	clk.add(500 * time.Millisecond)
	if err := rec.Event(Output, snow[:cut]); err != nil {
		t.Fatal(err)
	}
	clk.add(250 * time.Millisecond)
	if err := rec.Event(Output, snow[cut:]); err != nil {
		t.Fatal(err)
	}
	if err := rec.ResizeEvent(132, 43); err != nil {
		t.Fatal(err)
	}
	if err := rec.Event(Output, []byte{'a', 0xff, 'b'}); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Second)
	status := 7
	if err := rec.Close(&status, "", ""); err != nil {
		t.Fatal(err)
	}

	h, evs := readAll(t, d, id)
	if h.Version != 2 || h.Width != 80 || h.Height != 24 || h.Timestamp != clk.t.Add(-1750*time.Millisecond).Unix() || h.Env["TERM"] != "xterm-256color" || h.Agent != "web1" || h.Who != "admin" {
		t.Errorf("header %+v", h)
	}
	want := []Event{{0.5, "o", "snow "}, {0.75, "o", "☃\r\n"}, {0.75, "r", "132x43"}, {0.75, "o", "a\uFFFDb"}}
	if len(evs) != len(want) {
		t.Fatalf("events %+v, want %+v", evs, want)
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, evs[i], want[i])
		}
	}
	sum, err := d.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status == nil || *sum.Status != 7 || sum.Duration != 1.75 || sum.End.IsZero() || sum.Who != "admin" {
		t.Errorf("summary %+v", sum)
	}
	info, _ := os.Stat(filepath.Join(d.Path(), id+".cast"))
	if sum.Bytes != info.Size() {
		t.Errorf("summary says %d bytes, the cast has %d", sum.Bytes, info.Size())
	}
	list, err := d.List()
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("list %+v, %v", list, err)
	}
}

func TestBoundEndsSessionAndRefusesNext(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, 2048)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	id := NewID(clk.t)
	rec, err := d.Create(headerOf(), summaryOf(id), clk.now)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("y\n"), 100)
	for i := 0; ; i++ {
		err := rec.Event(Output, chunk)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil || i > 100 {
			t.Fatalf("write %d: %v, want ErrFull within the bound", i, err)
		}
	}
	if err := rec.Event(Output, []byte("x")); !errors.Is(err, ErrFull) {
		t.Errorf("write after full: %v", err)
	}
	rec.Close(nil, "", ErrFull.Error())
	if d.Used() > 2048+512 {
		t.Errorf("used %d bytes of a bound of 2048 (and a summary)", d.Used())
	}
	if _, err := d.Create(headerOf(), summaryOf(NewID(clk.t)), clk.now); !errors.Is(err, ErrFull) {
		t.Errorf("a session in a full directory: %v, want ErrFull", err)
	}
	// Reopened, the directory counts what it holds.
	d2, err := Open(dir, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Used() != d.Used() {
		t.Errorf("reopened: used %d, was %d", d2.Used(), d.Used())
	}
}

func TestPrune(t *testing.T) {
	d, err := Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	old := NewID(clk.t)
	live := NewID(clk.t.Add(time.Second))
	rec, _ := d.Create(headerOf(), summaryOf(old), clk.now)
	rec.Close(nil, "", "")
	rec2, _ := d.Create(headerOf(), summaryOf(live), clk.now)
	defer rec2.Close(nil, "", "")
	clk.add(48 * time.Hour)
	recent := NewID(clk.t)
	rec3, _ := d.Create(headerOf(), summaryOf(recent), clk.now)
	rec3.Close(nil, "", "")
	before := d.Used()
	n, err := d.Prune(clk.t.Add(-24*time.Hour), func(id string) bool { return id == live })
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	if _, err := d.Get(old); !errors.Is(err, ErrNotFound) {
		t.Errorf("old session after prune: %v", err)
	}
	for _, id := range []string{live, recent} {
		if _, err := d.Get(id); err != nil {
			t.Errorf("%s after prune: %v", id, err)
		}
	}
	if d.Used() >= before {
		t.Errorf("used %d after prune, %d before", d.Used(), before)
	}
}

func TestPlay(t *testing.T) {
	d, _ := Open(t.TempDir(), 1<<20)
	clk := newClock()
	id := NewID(clk.t)
	rec, _ := d.Create(headerOf(), summaryOf(id), clk.now)
	clk.add(time.Second)
	rec.Event(Output, []byte("one "))
	rec.ResizeEvent(10, 10)
	clk.add(time.Hour)
	rec.Event(Output, []byte("two"))
	rec.Close(nil, "", "")
	f, _ := d.OpenCast(id)
	defer f.Close()
	var out bytes.Buffer
	var pauses []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error { pauses = append(pauses, d); return nil }
	if err := Play(context.Background(), &out, f, 2, sleep); err != nil {
		t.Fatal(err)
	}
	if out.String() != "one two" {
		t.Errorf("played %q", out.String())
	}
	if len(pauses) != 2 || pauses[0] != 500*time.Millisecond || pauses[1] != MaxPause {
		t.Errorf("pauses %v, want 500ms then %v", pauses, MaxPause)
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"", "../x", "20260101-000000-0000000g", "20260101-000000-00000000/"} {
		if CheckID(id) == nil {
			t.Errorf("CheckID(%q) accepted", id)
		}
	}
	if err := CheckID(NewID(time.Now())); err != nil {
		t.Error(err)
	}
}

func TestReaderBounds(t *testing.T) {
	cast := `{"version":2,"width":1,"height":1}` + "\n" + `[0.1,"o","` + string(bytes.Repeat([]byte("a"), MaxLine)) + `"]` + "\n"
	r := NewReader(bytes.NewReader([]byte(cast)))
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil {
		t.Error("a line over MaxLine was read")
	}
	for name, line := range map[string]string{"not-array": `{}`, "two": `[1,"o"]`, "negative": `[-1,"o","x"]`, "code-number": `[1,2,"x"]`} {
		r := NewReader(bytes.NewReader([]byte(`{"version":2}` + "\n" + line + "\n")))
		r.Header()
		if _, err := r.Next(); err == nil {
			t.Errorf("%s: read", name)
		}
	}
}
