package shellwire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader holds the reader to a round trip: the frames it reads from any
// bytes, written again, read back the same, and written twice are the same
// bytes; it never returns a payload over MaxPayload, and it stops at the
// first error.
func FuzzReader(f *testing.F) {
	f.Add(frameBytes('i', 3, "abc"))
	f.Add(append(frameBytes('o', 2, "hi"), frameBytes('x', 2, "{}")...))
	f.Add(frameBytes('r', 4, "\x00\x50\x00\x18"))
	f.Add(frameBytes('o', MaxPayload+1, ""))
	f.Add(frameBytes('z', 0, ""))
	f.Add([]byte{'o', 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		var frames []Frame
		var err error
		for {
			var fr Frame
			fr, err = r.Read()
			if err != nil {
				break
			}
			if len(fr.Payload) > MaxPayload || !Known(fr.Type) {
				t.Fatalf("read %q of %d bytes", fr.Type, len(fr.Payload))
			}
			frames = append(frames, Frame{fr.Type, bytes.Clone(fr.Payload)})
		}
		if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrUnknownType) {
			t.Fatalf("unexpected error %v", err)
		}
		var once, twice bytes.Buffer
		for _, fr := range frames {
			if err := Write(&once, fr); err != nil {
				t.Fatal(err)
			}
			if err := Write(&twice, fr); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(once.Bytes(), twice.Bytes()) {
			t.Fatal("two writes of the same frames differ")
		}
		if !bytes.HasPrefix(in, once.Bytes()) {
			t.Fatalf("frames written again %q are not the input's start %q", once.Bytes(), in)
		}
		r2 := NewReader(&once)
		for i, want := range frames {
			got, err := r2.Read()
			if err != nil || got.Type != want.Type || !bytes.Equal(got.Payload, want.Payload) {
				t.Fatalf("frame %d read back as %q %q %v", i, got.Type, got.Payload, err)
			}
		}
		if _, err := r2.Read(); err != io.EOF {
			t.Fatalf("after the frames: %v", err)
		}
	})
}
