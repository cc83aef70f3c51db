package wire

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

type readCase struct {
	name   string
	in     string
	want   Message // when code and err are unset
	code   Code    // the *ProtocolError's code
	inSync bool
	err    error // io.EOF or io.ErrUnexpectedEOF; the input then ends the stream
}

// long returns a line of exactly n bytes, its ending included, that is a
// valid hello padded with spaces.
func long(n int, ending string) string {
	head := "hello 1 1.0.0"
	return head + strings.Repeat(" ", n-len(head)-len(ending)) + ending
}

func readCases() []readCase {
	name250 := strings.Repeat("n", 250)
	blobMax := strings.Repeat("b", MaxBlob)
	return []readCase{
		// Messages.
		{name: "hello", in: "hello 1 1.0.0\n", want: Hello("1.0.0")},
		{name: "hello-v-prefix", in: "hello 1 v1.4.2\n", want: Hello("v1.4.2")},
		{name: "hello-prerelease", in: "hello 1 1.5.0-rc.1\n", want: Hello("1.5.0-rc.1")},
		{name: "hello-dev", in: "hello 1 0.0.0-dev\n", want: Hello("0.0.0-dev")},
		{name: "hello-other-protocol", in: "hello 2 1.0.0\n", want: Message{Kind: KindHello, Protocol: 2, Version: "1.0.0"}},
		{name: "check", in: "check disk 2 12\n{\"path\":\"/\"}\n", want: Check("disk", 2, []byte(`{"path":"/"}`))},
		{name: "check-empty-blob", in: "check load 1 0\n\n", want: Check("load", 1, []byte{})},
		{name: "result", in: "result 2 disk 2\n{}\n", want: Result(2, "disk", []byte("{}"))},
		{name: "error", in: "error bad_hello\n", want: Error(CodeBadHello)},
		{name: "error-unknown-code", in: "error too_slow\n", want: Message{Kind: KindError, Text: "too_slow"}},
		{name: "error-more-tokens", in: "error shutting_down  back   soon \n", want: Message{Kind: KindError, Text: "shutting_down back soon"}},
		{name: "reload", in: "reload\n", want: Reload()},
		{name: "crlf", in: "check disk 2 2\r\n{}\r\n", want: Check("disk", 2, []byte("{}"))},
		{name: "crlf-line-lf-blob", in: "check disk 2 2\r\n{}\n", want: Check("disk", 2, []byte("{}"))},
		{name: "space-runs", in: "  check   disk  2    2  \n{}\n", want: Check("disk", 2, []byte("{}"))},
		{name: "reload-trailing-spaces", in: "reload   \r\n", want: Reload()},
		{name: "blob-holds-line-ends", in: "result 9 x 6\na\nb\r\n\n\n", want: Result(9, "x", []byte("a\nb\r\n\n"))},
		{name: "blob-looks-like-command", in: "check x 1 7\nreload\n\n", want: Check("x", 1, []byte("reload\n"))},
		{name: "int-max", in: "check x 2147483647 0\n\n", want: Check("x", 2147483647, []byte{})},
		{name: "int-zero", in: "result 0 x 0\n\n", want: Result(0, "x", []byte{})},
		{name: "utf8-name", in: "check d\u00e9j\u00e0-vu 1 0\n\n", want: Check("d\u00e9j\u00e0-vu", 1, []byte{})},
		{name: "name-250", in: "check " + name250 + " 1 0\n\n", want: Check(name250, 1, []byte{})},
		{name: "line-max", in: long(MaxLine, "\n"), want: Hello("1.0.0")},
		{name: "line-max-crlf", in: long(MaxLine, "\r\n"), want: Hello("1.0.0")},
		{name: "blob-max", in: "check big 1 1048576\n" + blobMax + "\n", want: Check("big", 1, []byte(blobMax))},

		// Ends of the stream.
		{name: "eof", in: "", err: io.EOF},
		{name: "no-eol", in: "reload", err: io.ErrUnexpectedEOF},
		{name: "eof-in-blob", in: "check x 1 5\nab", err: io.ErrUnexpectedEOF},
		{name: "eof-before-terminator", in: "check x 1 2\nab", err: io.ErrUnexpectedEOF},
		{name: "eof-after-cr", in: "check x 1 2\nab\r", err: io.ErrUnexpectedEOF},

		// unknown_command: the line is read whole, so the stream is in sync.
		{name: "unknown-command", in: "stats\n", code: CodeUnknownCommand, inSync: true},
		{name: "uppercase-command", in: "HELLO 1 1.0.0\n", code: CodeUnknownCommand, inSync: true},
		{name: "tab-separator", in: "hello\t1 1.0.0\n", code: CodeUnknownCommand, inSync: true},
		{name: "bare-cr", in: "reload\r\r\n", code: CodeUnknownCommand, inSync: true},
		{name: "nul-command", in: "\x00\n", code: CodeUnknownCommand, inSync: true},

		// bad_command.
		{name: "empty-line", in: "\n", code: CodeBadCommand, inSync: true},
		{name: "spaces-only", in: "   \r\n", code: CodeBadCommand, inSync: true},
		{name: "hello-too-few", in: "hello 1\n", code: CodeBadCommand, inSync: true},
		{name: "hello-too-many", in: "hello 1 1.0.0 linux\n", code: CodeBadCommand, inSync: true},
		{name: "reload-argument", in: "reload now\n", code: CodeBadCommand, inSync: true},
		{name: "error-no-message", in: "error\n", code: CodeBadCommand, inSync: true},
		{name: "error-spaces-only", in: "error   \n", code: CodeBadCommand, inSync: true},
		// The blob's length is not known, so where the next line starts is not.
		{name: "check-too-few", in: "check x 1\n", code: CodeBadCommand},
		{name: "check-too-many", in: "check x 1 0 0\n\n", code: CodeBadCommand},
		{name: "result-too-few", in: "result 1 0\n\n", code: CodeBadCommand},

		// bad_argument.
		{name: "hello-protocol-sign", in: "hello +1 1.0.0\n", code: CodeBadArgument, inSync: true},
		{name: "hello-protocol-negative", in: "hello -1 1.0.0\n", code: CodeBadArgument, inSync: true},
		{name: "hello-not-semver", in: "hello 1 1.0\n", code: CodeBadArgument, inSync: true},
		{name: "hello-version-leading-zero", in: "hello 1 1.02.0\n", code: CodeBadArgument, inSync: true},
		{name: "hello-version-too-long", in: "hello 1 1.0.0-" + strings.Repeat("a", 245) + "\n", code: CodeBadArgument, inSync: true},
		{name: "error-control", in: "error bad\x01\n", code: CodeBadArgument, inSync: true},
		{name: "error-token-too-long", in: "error x " + strings.Repeat("y", 251) + "\n", code: CodeBadArgument, inSync: true},
		// A bad name or id with a good length: the blob is stepped over.
		{name: "leading-zero", in: "check x 01 0\n\n", code: CodeBadArgument, inSync: true},
		{name: "plus-sign", in: "check x +1 2\n{}\n", code: CodeBadArgument, inSync: true},
		{name: "minus-sign", in: "check x -1 2\n{}\n", code: CodeBadArgument, inSync: true},
		{name: "id-overflow", in: "check x 2147483648 0\n\n", code: CodeBadArgument, inSync: true},
		{name: "id-hex", in: "check x 0x1 0\n\n", code: CodeBadArgument, inSync: true},
		{name: "name-control", in: "check a\x01b 1 0\n\n", code: CodeBadArgument, inSync: true},
		{name: "name-del", in: "check a\x7fb 1 0\n\n", code: CodeBadArgument, inSync: true},
		{name: "name-bad-utf8", in: "check \xff\xfe 1 0\n\n", code: CodeBadArgument, inSync: true},
		{name: "name-too-long", in: "check " + name250 + "n 1 0\n\n", code: CodeBadArgument, inSync: true},
		{name: "result-fields-swapped", in: "result load 1 0\n\n", code: CodeBadArgument, inSync: true},
		{name: "bad-name-bad-terminator", in: "check \x01 1 2\n{}X", code: CodeBadArgument},
		// A bad length: the blob's end is not known.
		{name: "size-overflow", in: "check x 1 2147483648\n", code: CodeBadArgument},
		{name: "size-leading-zero", in: "check x 1 00\n\n", code: CodeBadArgument},
		{name: "size-not-int", in: "check x 1 ten\n", code: CodeBadArgument},
		{name: "size-negative", in: "result 1 x -1\n", code: CodeBadArgument},

		// blob_too_large, from the line alone.
		{name: "blob-too-large", in: "check x 1 1048577\n", code: CodeBlobTooLarge},
		{name: "blob-too-large-int-max", in: "result 1 x 2147483647\n", code: CodeBlobTooLarge},
		{name: "blob-too-large-bad-name", in: "check \x01 1 1048577\n", code: CodeBadArgument},

		// bad_blob_terminator.
		{name: "bad-blob-terminator", in: "check x 1 2\n{}X", code: CodeBadBlobTerminator},
		{name: "blob-longer-than-declared", in: "check x 1 1\n{}\n", code: CodeBadBlobTerminator},
		{name: "blob-cr-alone", in: "check x 1 2\n{}\rX", code: CodeBadBlobTerminator},
		{name: "blob-cr-cr-lf", in: "check x 1 2\n{}\r\r\n", code: CodeBadBlobTerminator},

		// line_too_long.
		{name: "line-too-long", in: long(MaxLine+1, "\n"), code: CodeLineTooLong},
		{name: "line-too-long-crlf", in: long(MaxLine+1, "\r\n"), code: CodeLineTooLong},
		{name: "line-too-long-no-eol", in: strings.Repeat("x", 3*MaxLine), code: CodeLineTooLong},
	}
}

func TestReadTable(t *testing.T) {
	for _, tc := range readCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if tc.err == nil {
				// What comes next shows whether the reader kept its place.
				in += "reload\n"
			}
			r := NewReader(strings.NewReader(in))
			m, err := r.Read()
			checkRead(t, tc, m, err)
			if tc.err != nil {
				return
			}
			next, err := r.Read()
			if tc.code == "" || tc.inSync {
				if err != nil || next.Kind != KindReload {
					t.Fatalf("next Read = %+v, %v; want reload", next, err)
				}
				return
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("next Read after an error out of sync = %v; want the same error again", err)
			}
		})
	}
}

func checkRead(t *testing.T, tc readCase, m Message, err error) {
	t.Helper()
	switch {
	case tc.err != nil:
		if err != tc.err {
			t.Fatalf("Read = %+v, %v; want %v", m, err, tc.err)
		}
	case tc.code != "":
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Fatalf("Read = %+v, %v; want a *ProtocolError %s", m, err, tc.code)
		}
		if pe.Code != tc.code || pe.InSync != tc.inSync {
			t.Fatalf("Read error = %s (InSync %v); want %s (InSync %v)", pe, pe.InSync, tc.code, tc.inSync)
		}
		if !reflect.DeepEqual(m, Message{}) {
			t.Errorf("Read returned %+v with its error; want the zero Message", m)
		}
	default:
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if !reflect.DeepEqual(m, tc.want) {
			t.Fatalf("Read = %+v; want %+v", m, tc.want)
		}
	}
}

// A caller's *bufio.Reader larger than a line is used as it is; lines are
// still held to MaxLine.
func TestReadLargerBufio(t *testing.T) {
	r := NewReader(bufio.NewReaderSize(strings.NewReader(long(MaxLine+1, "\n")+"reload\n"), 4*MaxLine))
	_, err := r.Read()
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Code != CodeLineTooLong || !pe.InSync {
		t.Fatalf("Read = %v; want line_too_long in sync", err)
	}
	if m, err := r.Read(); err != nil || m.Kind != KindReload {
		t.Fatalf("next Read = %+v, %v; want reload", m, err)
	}
}

// Each message's blob is its own: reading the next one leaves it alone.
func TestReadBlobOwned(t *testing.T) {
	r := NewReader(strings.NewReader("check a 1 3\nabc\ncheck b 2 3\nxyz\n"))
	first, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	if string(first.Blob) != "abc" || first.Name != "a" {
		t.Fatalf("first message changed to %+v after the next Read", first)
	}
}

type failReader struct{ err error }

func (f failReader) Read([]byte) (int, error) { return 0, f.err }

func TestReadUnderlyingError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("check a 1 3\nab"), failReader{boom}))
	if _, err := r.Read(); !errors.Is(err, boom) {
		t.Fatalf("Read = %v; want %v", err, boom)
	}
}

func TestProtocolErrorIs(t *testing.T) {
	_, err := NewReader(strings.NewReader("nope\n")).Read()
	if !errors.Is(err, &ProtocolError{Code: CodeUnknownCommand}) {
		t.Errorf("errors.Is(%v, unknown_command) = false", err)
	}
	if errors.Is(err, &ProtocolError{Code: CodeBadCommand}) {
		t.Errorf("errors.Is(%v, bad_command) = true", err)
	}
	if got := err.Error(); !strings.HasPrefix(got, "wire: unknown_command: ") {
		t.Errorf("Error() = %q", got)
	}
}
