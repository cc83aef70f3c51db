package wire

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/ from the writer")

// transcripts are the streams of testdata/: each golden file holds the exact
// bytes the writer must produce for its messages, and reads back to them.
var transcripts = []struct {
	name  string
	input string // another file that reads to the same messages, if any
	msgs  []Message
}{
	{
		// PROTOCOL.md's example session, what the agent sends.
		name: "example-equus",
		msgs: []Message{
			Hello("1.0.0"),
			Result(2, "disk", []byte(`{"status":"ok","message":"/ 41% used","duration_ms":0.4}`)),
			Result(1, "load", []byte(`{"status":"ok","message":"load 0.42","duration_ms":0.2}`)),
		},
	},
	{
		// PROTOCOL.md's example session, what helen sends.
		name: "example-helen",
		msgs: []Message{
			Check("load", 1, nil),
			Check("disk", 2, []byte(`{"path":"/"}`)),
		},
	},
	{
		name: "commands",
		msgs: []Message{
			Hello("v1.5.0-rc.1"),
			Check("equus.ping", 2147483647, nil),
			Check("disk", 7, []byte(`{"path":"/"}`)),
			Result(7, "disk", []byte(`{"status":"warning","message":"été"}`)),
			Error(CodeUnsupportedProtocolVersion),
			Reload(),
		},
	},
	{
		name: "empty-blob",
		msgs: []Message{Check("load", 0, []byte{}), Result(0, "load", nil)},
	},
	{
		// Runs of spaces and "\r\n" on input; single spaces and "\n" out.
		name:  "crlf",
		input: "crlf.input",
		msgs: []Message{
			Hello("1.0.0"),
			Check("disk", 3, []byte("{\"a\":\"x\r\ny\"}")),
			Result(3, "disk", nil),
			{Kind: KindError, Text: "shutting_down until later"},
			Reload(),
		},
	},
}

func TestGoldenWrite(t *testing.T) {
	for _, tr := range transcripts {
		t.Run(tr.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out)
			for _, m := range tr.msgs {
				if err := w.Write(m); err != nil {
					t.Fatalf("Write(%+v): %v", m, err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tr.name+".golden")
			if *update {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("writer output differs from %s\n got: %q\nwant: %q", path, out.Bytes(), want)
			}
		})
	}
}

func TestGoldenRead(t *testing.T) {
	for _, tr := range transcripts {
		files := []string{tr.name + ".golden"}
		if tr.input != "" {
			files = append(files, tr.input)
		}
		for _, file := range files {
			t.Run(file, func(t *testing.T) {
				f, err := os.Open(filepath.Join("testdata", file))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				r := NewReader(f)
				for i, want := range tr.msgs {
					got, err := r.Read()
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					if !sameMessage(got, want) {
						t.Fatalf("message %d = %+v; want %+v", i, got, want)
					}
				}
				if m, err := r.Read(); !errors.Is(err, io.EOF) {
					t.Fatalf("after the last message: %+v, %v; want io.EOF", m, err)
				}
			})
		}
	}
}

// sameMessage reports whether a and b are equal, taking a nil blob for an
// empty one.
func sameMessage(a, b Message) bool {
	if !bytes.Equal(a.Blob, b.Blob) {
		return false
	}
	a.Blob, b.Blob = nil, nil
	return reflect.DeepEqual(a, b)
}
