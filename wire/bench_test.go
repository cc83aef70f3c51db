package wire

import "testing"

// loopReader serves the same bytes over and over, filling each read as a
// socket with many messages queued would.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

// copySink copies what it is given into a buffer it reuses, as a socket
// copies into the kernel; io.Discard would leave a blob's cost out.
type copySink struct{ buf [64 << 10]byte }

func (s *copySink) Write(p []byte) (int, error) {
	for n := 0; n < len(p); {
		n += copy(s.buf[:], p[n:])
	}
	return len(p), nil
}

var benchSizes = []struct {
	name string
	size int
}{
	{"0B", 0},
	{"1KiB", 1 << 10},
	{"1MiB", 1 << 20},
}

func benchMessage(size int) Message {
	blob := make([]byte, size)
	for i := range blob {
		blob[i] = byte('a' + i%26)
	}
	return Check("equus.ping", 123456, blob)
}

func BenchmarkRead(b *testing.B) {
	for _, s := range benchSizes {
		b.Run("check-"+s.name, func(b *testing.B) {
			data, err := Append(nil, benchMessage(s.size))
			if err != nil {
				b.Fatal(err)
			}
			r := NewReader(&loopReader{data: data})
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, s := range benchSizes {
		b.Run("check-"+s.name, func(b *testing.B) {
			m := benchMessage(s.size)
			data, err := Append(nil, m)
			if err != nil {
				b.Fatal(err)
			}
			w := NewWriter(&copySink{})
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Write(m); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
