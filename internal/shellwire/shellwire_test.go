package shellwire

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

func frameBytes(t byte, n uint32, payload string) []byte {
	b := []byte{t, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	return append(b, payload...)
}

func TestReadFrames(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []Frame
		err  error
	}{
		{"empty", nil, nil, io.EOF},
		{"stdin", frameBytes('i', 3, "abc"), []Frame{{TypeStdin, []byte("abc")}}, io.EOF},
		{"empty-payload", frameBytes('c', 0, ""), []Frame{{TypeStdinClosed, []byte{}}}, io.EOF},
		{"two", append(frameBytes('o', 2, "hi"), frameBytes('e', 1, "!")...),
			[]Frame{{TypeStdout, []byte("hi")}, {TypeStderr, []byte("!")}}, io.EOF},
		{"max", frameBytes('o', MaxPayload, strings.Repeat("y", MaxPayload)),
			[]Frame{{TypeStdout, bytes.Repeat([]byte("y"), MaxPayload)}}, io.EOF},
		{"size-overflow", frameBytes('o', MaxPayload+1, "x"), nil, ErrTooLong},
		{"size-huge", frameBytes('o', 0xffffffff, ""), nil, ErrTooLong},
		{"unknown-type", frameBytes('z', 1, "x"), nil, ErrUnknownType},
		{"short-header", []byte{'o', 0, 0}, nil, io.ErrUnexpectedEOF},
		{"short-payload", frameBytes('o', 5, "ab"), nil, io.ErrUnexpectedEOF},
		{"no-payload", frameBytes('o', 5, ""), nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.in))
			for i, want := range tt.want {
				f, err := r.Read()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.Type != want.Type || !bytes.Equal(f.Payload, want.Payload) {
					t.Fatalf("frame %d = %q %q, want %q %q", i, f.Type, f.Payload, want.Type, want.Payload)
				}
			}
			if _, err := r.Read(); !errors.Is(err, tt.err) {
				t.Fatalf("end: %v, want %v", err, tt.err)
			}
		})
	}
}

func TestWriteBytes(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, Frame{TypeStdin, []byte("ls\n")}); err != nil {
		t.Fatal(err)
	}
	if want := "i\x00\x00\x00\x03ls\n"; b.String() != want {
		t.Fatalf("wrote %q, want %q", b.String(), want)
	}
}

func TestWriteRefuses(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, Frame{TypeStdout, make([]byte, MaxPayload+1)}); !errors.Is(err, ErrTooLong) {
		t.Fatalf("long payload: %v, want ErrTooLong", err)
	}
	if err := Write(&b, Frame{'z', nil}); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown type: %v, want ErrUnknownType", err)
	}
	if b.Len() != 0 {
		t.Fatalf("refused frames wrote %q", b.Bytes())
	}
}

// oneWrite counts the calls of Write, so that a frame is seen to go in one.
type oneWrite struct {
	bytes.Buffer
	calls int
}

func (w *oneWrite) Write(p []byte) (int, error) { w.calls++; return w.Buffer.Write(p) }

func TestWriteOneCall(t *testing.T) {
	var w oneWrite
	if err := Write(&w, Frame{TypeStdout, []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	if w.calls != 1 {
		t.Fatalf("%d calls of Write, want 1", w.calls)
	}
}

func TestResize(t *testing.T) {
	f := Resize(132, 43)
	if f.Type != TypeResize || !bytes.Equal(f.Payload, []byte{0, 132, 0, 43}) {
		t.Fatalf("Resize(132, 43) = %q %v", f.Type, f.Payload)
	}
	cols, rows, err := ParseResize(Resize(0xffff, 300).Payload)
	if err != nil || cols != 0xffff || rows != 300 {
		t.Fatalf("ParseResize = %d %d %v", cols, rows, err)
	}
	for _, p := range [][]byte{nil, {1, 2, 3}, {1, 2, 3, 4, 5}} {
		if _, _, err := ParseResize(p); !errors.Is(err, ErrBadPayload) {
			t.Errorf("ParseResize(%v): %v, want ErrBadPayload", p, err)
		}
	}
}

func TestExit(t *testing.T) {
	in := ExitMsg{Status: -1, Signal: "KILL", Error: "idle for 15m0s"}
	f := Exit(in)
	if f.Type != TypeExit || string(f.Payload) != `{"status":-1,"signal":"KILL","error":"idle for 15m0s"}` {
		t.Fatalf("Exit = %q %s", f.Type, f.Payload)
	}
	got, err := ParseExit(f.Payload)
	if err != nil || got != in {
		t.Fatalf("ParseExit = %+v %v, want %+v", got, err, in)
	}
	if _, err := ParseExit([]byte("{")); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("ParseExit({): %v, want ErrBadPayload", err)
	}
	long := Exit(ExitMsg{Error: strings.Repeat("é", MaxPayload)})
	e, err := ParseExit(long.Payload)
	if err != nil || len(e.Error) > MaxExitError {
		t.Fatalf("long error: %d bytes, %v", len(e.Error), err)
	}
}

func TestHello(t *testing.T) {
	f := NewHello("s1", "c2VjcmV0")
	h, err := ParseHello(f.Payload)
	if f.Type != TypeHello || err != nil || h != (HelloMsg{ID: "s1", Secret: "c2VjcmV0"}) {
		t.Fatalf("hello %q %s: %+v %v", f.Type, f.Payload, h, err)
	}
	for _, p := range []string{"", "{", `{"id":"s1"}`, `{"secret":"x"}`, `[]`} {
		if _, err := ParseHello([]byte(p)); !errors.Is(err, ErrBadPayload) {
			t.Errorf("ParseHello(%q): %v, want ErrBadPayload", p, err)
		}
	}
}

func TestSignal(t *testing.T) {
	for _, name := range []string{"INT", "TSTP", "TERM", "HUP", "QUIT", "KILL"} {
		n, ok := SignalNumber(name)
		if !ok || SignalName(n) != name {
			t.Fatalf("SignalNumber(%s) = %d %v", name, n, ok)
		}
		got, err := ParseSignal(SignalFrame(n).Payload)
		if err != nil || got != n {
			t.Fatalf("ParseSignal(%s) = %d %v", name, got, err)
		}
	}
	for _, p := range [][]byte{nil, {2, 2}, {11}, {0}} {
		if _, err := ParseSignal(p); !errors.Is(err, ErrBadPayload) {
			t.Errorf("ParseSignal(%v): %v, want ErrBadPayload", p, err)
		}
	}
	if _, ok := SignalNumber("SEGV"); ok {
		t.Fatal("SignalNumber(SEGV) is ok")
	}
}

// TestReaderReusesBuffer holds the reader to one buffer: reading many frames
// allocates nothing once the buffer has grown.
func TestReaderReusesBuffer(t *testing.T) {
	var b bytes.Buffer
	for range 200 {
		if err := Write(&b, Frame{TypeStdout, make([]byte, 1000)}); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(bytes.NewReader(b.Bytes()))
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.Read(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations a frame, want 0", allocs)
	}
}

func TestImportsOnlyStandardLibrary(t *testing.T) {
	out, err := runCmd("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(out) {
		if !strings.HasSuffix(p, "/internal/shellwire") {
			t.Errorf("shellwire imports %s", p)
		}
	}
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}
