package wire

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// writeBuffer is the size of a Writer's buffer: many small messages go out
// in one write, and a large blob bypasses it.
const writeBuffer = 64 << 10

// Writer writes messages to a stream. Messages are buffered; Flush sends
// them. It is not safe for concurrent use: a session that answers from many
// goroutines hands its messages to one writer.
type Writer struct {
	bw *bufio.Writer
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, writeBuffer)}
}

// Write buffers the exact bytes of m: single spaces between tokens, and
// "\n" after the line and after the blob. A message that breaks the rules
// gets a *ProtocolError, such as bad_argument for a name that is not a
// <string>, and nothing is written.
func (w *Writer) Write(m Message) error {
	line, err := appendLine(w.bw.AvailableBuffer(), m)
	if err != nil {
		return err
	}
	if _, err := w.bw.Write(line); err != nil {
		return err
	}
	if !m.Kind.hasBlob() {
		return nil
	}
	if _, err := w.bw.Write(m.Blob); err != nil {
		return err
	}
	return w.bw.WriteByte('\n')
}

// Flush writes any buffered messages to the underlying writer.
func (w *Writer) Flush() error {
	return w.bw.Flush()
}

// Append appends the bytes of m, as a Writer writes them, to dst. A message
// that breaks the rules gets a *ProtocolError, and dst is returned as it
// was.
func Append(dst []byte, m Message) ([]byte, error) {
	out, err := appendLine(dst, m)
	if err != nil {
		return dst, err
	}
	if m.Kind.hasBlob() {
		out = append(out, m.Blob...)
		out = append(out, '\n')
	}
	return out, nil
}

// appendLine checks m and appends its command line, with its ending.
func appendLine(dst []byte, m Message) ([]byte, error) {
	if err := check(m); err != nil {
		return dst, err
	}
	dst = append(dst, m.Kind.String()...)
	switch m.Kind {
	case KindHello:
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(m.Protocol), 10)
		dst = append(dst, ' ')
		dst = append(dst, m.Version...)
	case KindCheck:
		dst = append(dst, ' ')
		dst = append(dst, m.Name...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(m.ID), 10)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(len(m.Blob)), 10)
	case KindResult:
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(m.ID), 10)
		dst = append(dst, ' ')
		dst = append(dst, m.Name...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(len(m.Blob)), 10)
	case KindError:
		dst = append(dst, ' ')
		dst = append(dst, m.Text...)
	}
	return append(dst, '\n'), nil
}

// check reports what, if anything, keeps m from being sent. The fields
// that m.Kind does not use are not looked at.
func check(m Message) error {
	switch m.Kind {
	case KindHello:
		if m.Protocol < 0 {
			return inSync(CodeBadArgument, fmt.Sprintf("hello: protocol version %d is negative", m.Protocol))
		}
		if !ValidString(m.Version) || !validVersion(m.Version) {
			return inSync(CodeBadArgument, "hello: equus version "+strconv.Quote(m.Version)+" is not a semantic version")
		}
	case KindCheck, KindResult:
		if !ValidString(m.Name) {
			return inSync(CodeBadArgument, fmt.Sprintf("%s: check name %q is not a <string>", m.Kind, m.Name))
		}
		if m.ID < 0 {
			return inSync(CodeBadArgument, fmt.Sprintf("%s: message id %d is negative", m.Kind, m.ID))
		}
		if len(m.Blob) > MaxBlob {
			return inSync(CodeBlobTooLarge, fmt.Sprintf("%s: blob of %d bytes", m.Kind, len(m.Blob)))
		}
	case KindError:
		if len("error \n")+len(m.Text) > MaxLine {
			return inSync(CodeLineTooLong, fmt.Sprintf("error: message of %d bytes", len(m.Text)))
		}
		if !validText(m.Text) {
			return inSync(CodeBadArgument, "error: message "+strconv.Quote(m.Text)+" is not <string> tokens joined by single spaces")
		}
	case KindReload:
	default:
		return inSync(CodeUnknownCommand, m.Kind.String())
	}
	return nil
}
