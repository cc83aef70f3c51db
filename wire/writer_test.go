package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want string // the bytes written, when code is unset
		code Code
	}{
		{name: "hello", m: Hello("1.4.2"), want: "hello 1 1.4.2\n"},
		{name: "hello-protocol-zero", m: Message{Kind: KindHello, Version: "v0.0.0-dev"}, want: "hello 0 v0.0.0-dev\n"},
		{name: "check", m: Check("disk", 2, []byte(`{"path":"/"}`)), want: "check disk 2 12\n{\"path\":\"/\"}\n"},
		{name: "check-nil-args", m: Check("load", 1, nil), want: "check load 1 0\n\n"},
		{name: "result", m: Result(2147483647, "x", []byte("a\nb")), want: "result 2147483647 x 3\na\nb\n"},
		{name: "error", m: Error(CodeNotAuthorized), want: "error not_authorized\n"},
		{name: "error-more-tokens", m: Message{Kind: KindError, Text: "shutting_down back soon"}, want: "error shutting_down back soon\n"},
		{name: "reload", m: Reload(), want: "reload\n"},
		{name: "unused-fields-ignored", m: Message{Kind: KindReload, Name: "x y", ID: -1, Text: "\n"}, want: "reload\n"},

		{name: "kind-zero", m: Message{}, code: CodeUnknownCommand},
		{name: "kind-unknown", m: Message{Kind: 9}, code: CodeUnknownCommand},
		{name: "hello-negative-protocol", m: Message{Kind: KindHello, Protocol: -1, Version: "1.0.0"}, code: CodeBadArgument},
		{name: "hello-not-semver", m: Hello("1.0"), code: CodeBadArgument},
		{name: "hello-empty-version", m: Hello(""), code: CodeBadArgument},
		{name: "hello-version-too-long", m: Hello("1.0.0-" + strings.Repeat("a", 245)), code: CodeBadArgument},
		{name: "check-empty-name", m: Check("", 1, nil), code: CodeBadArgument},
		{name: "check-name-space", m: Check("a b", 1, nil), code: CodeBadArgument},
		{name: "check-name-newline", m: Check("a\n", 1, nil), code: CodeBadArgument},
		{name: "check-name-bad-utf8", m: Check("\xff", 1, nil), code: CodeBadArgument},
		{name: "check-name-too-long", m: Check(strings.Repeat("n", 251), 1, nil), code: CodeBadArgument},
		{name: "check-negative-id", m: Check("x", -1, nil), code: CodeBadArgument},
		{name: "result-negative-id", m: Result(-5, "x", nil), code: CodeBadArgument},
		{name: "blob-too-large", m: Check("x", 1, make([]byte, MaxBlob+1)), code: CodeBlobTooLarge},
		{name: "error-empty", m: Message{Kind: KindError}, code: CodeBadArgument},
		{name: "error-double-space", m: Message{Kind: KindError, Text: "a  b"}, code: CodeBadArgument},
		{name: "error-trailing-space", m: Message{Kind: KindError, Text: "a "}, code: CodeBadArgument},
		{name: "error-newline", m: Message{Kind: KindError, Text: "a\nreload"}, code: CodeBadArgument},
		{name: "error-line-too-long", m: Message{Kind: KindError, Text: strings.Repeat("abcd ", 1000) + "x"}, code: CodeLineTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out)
			err := w.Write(tc.m)
			if ferr := w.Flush(); ferr != nil {
				t.Fatalf("Flush: %v", ferr)
			}
			appended, aerr := Append([]byte("keep"), tc.m)
			if tc.code == "" {
				if err != nil || aerr != nil {
					t.Fatalf("Write = %v, Append = %v", err, aerr)
				}
				if out.String() != tc.want {
					t.Errorf("Write wrote %q; want %q", out.String(), tc.want)
				}
				if string(appended) != "keep"+tc.want {
					t.Errorf("Append = %q; want %q", appended, "keep"+tc.want)
				}
				return
			}
			for _, e := range []error{err, aerr} {
				var pe *ProtocolError
				if !errors.As(e, &pe) || pe.Code != tc.code || !pe.InSync {
					t.Fatalf("error = %v; want %s in sync", e, tc.code)
				}
			}
			if out.Len() != 0 {
				t.Errorf("Write wrote %q for a bad message; want nothing", out.String())
			}
			if string(appended) != "keep" {
				t.Errorf("Append = %q for a bad message; want dst as it was", appended)
			}
		})
	}
}

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }

func TestWriteUnderlyingError(t *testing.T) {
	boom := errors.New("boom")
	w := NewWriter(errWriter{boom})
	if err := w.Write(Reload()); err != nil {
		t.Fatalf("Write buffered: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush = %v; want %v", err, boom)
	}
	// A blob larger than the buffer goes to the writer during Write.
	if err := w.Write(Check("x", 1, make([]byte, MaxBlob))); !errors.Is(err, boom) {
		t.Fatalf("Write = %v; want %v", err, boom)
	}
}
