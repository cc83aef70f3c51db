package wire

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead holds the reader and writer to a round trip: whatever the reader
// accepts, the writer writes back; those bytes read to the same message;
// writing it twice gives the same bytes. Whatever it refuses, it refuses
// with an error of the contract, without panicking.
func FuzzRead(f *testing.F) {
	golden, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
	if err != nil {
		f.Fatal(err)
	}
	golden = append(golden, filepath.Join("testdata", "crlf.input"))
	for _, path := range golden {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, tc := range readCases() {
		if len(tc.in) <= 2*MaxLine {
			f.Add([]byte(tc.in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for {
			m, err := r.Read()
			if err != nil {
				var pe *ProtocolError
				switch {
				case err == io.EOF, err == io.ErrUnexpectedEOF:
					return
				case errors.As(err, &pe):
					if !pe.Code.Known() {
						t.Fatalf("unknown code in %v", err)
					}
					if pe.InSync {
						continue
					}
					if _, again := r.Read(); again != err {
						t.Fatalf("Read after %v = %v; want the same error", err, again)
					}
					return
				default:
					t.Fatalf("Read: unexpected error %v", err)
				}
			}
			roundTrip(t, m)
		}
	})
}

func roundTrip(t *testing.T, m Message) {
	t.Helper()
	b1, err := Append(nil, m)
	if err != nil {
		t.Fatalf("read %+v, but Append refuses it: %v", m, err)
	}
	b2, err := Append(nil, m)
	if err != nil || !bytes.Equal(b1, b2) {
		t.Fatalf("Append twice: %q then %q, %v", b1, b2, err)
	}
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := w.Write(m); err != nil {
		t.Fatalf("Write(%+v): %v", m, err)
	}
	if err := w.Flush(); err != nil || !bytes.Equal(out.Bytes(), b1) {
		t.Fatalf("Write wrote %q, Append %q (%v)", out.Bytes(), b1, err)
	}
	if line, _, _ := bytes.Cut(b1, []byte("\n")); len(line)+1 > MaxLine {
		t.Fatalf("wrote a line of %d bytes", len(line)+1)
	}
	r := NewReader(bytes.NewReader(b1))
	back, err := r.Read()
	if err != nil {
		t.Fatalf("reading back %q: %v", b1, err)
	}
	if !sameMessage(back, m) {
		t.Fatalf("read back %+v; want %+v", back, m)
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("after reading back %q: %v; want io.EOF", b1, err)
	}
}
