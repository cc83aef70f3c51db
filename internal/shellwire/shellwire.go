package shellwire

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxPayload bounds a frame's payload, and so each read of a session's
// terminal or pipes and the reader's buffer.
const MaxPayload = 32 << 10

// HeaderLen is the length of a frame's header: its type and payload length.
const HeaderLen = 5

// The types of frames.
const (
	// TypeHello is the first frame of an agent's shell connection: JSON
	// {"id","secret"} (agent to helen).
	TypeHello byte = 'h'
	// TypeStdin carries bytes for the session's standard input (helen to agent).
	TypeStdin byte = 'i'
	// TypeStdout carries the session's standard output, with a tty its
	// terminal's output (agent to helen).
	TypeStdout byte = 'o'
	// TypeStderr carries the session's standard error, only without a tty
	// (agent to helen).
	TypeStderr byte = 'e'
	// TypeResize carries the terminal's new size, 2+2 bytes big-endian cols
	// and rows (helen to agent).
	TypeResize byte = 'r'
	// TypeSignal carries one byte, a signal number (helen to agent).
	TypeSignal byte = 's'
	// TypeStdinClosed says that no more input comes (helen to agent); its
	// payload is empty.
	TypeStdinClosed byte = 'c'
	// TypeExit is the session's last frame: JSON {"status","signal","error"}
	// (agent to helen).
	TypeExit byte = 'x'
)

// ErrTooLong is the error of a frame whose length is over MaxPayload.
var ErrTooLong = errors.New("shellwire: frame payload over 32 KiB")

// ErrUnknownType is the error of a frame of a type this package does not know.
var ErrUnknownType = errors.New("shellwire: unknown frame type")

// ErrBadPayload is the error of a payload that does not parse as its type's.
var ErrBadPayload = errors.New("shellwire: bad payload")

// Frame is one frame. A Frame returned by Reader.Read holds a payload that
// is valid only until the next Read.
type Frame struct {
	Type    byte
	Payload []byte
}

// Known reports whether t is one of the types of frames.
func Known(t byte) bool {
	switch t {
	case TypeHello, TypeStdin, TypeStdout, TypeStderr, TypeResize, TypeSignal, TypeStdinClosed, TypeExit:
		return true
	}
	return false
}

// Write writes f to w in one call of w.Write, so that a frame is never
// interleaved with another writer's on the same writer if the caller holds
// its lock for the call.
func Write(w io.Writer, f Frame) error {
	if !Known(f.Type) {
		return fmt.Errorf("%w %q", ErrUnknownType, f.Type)
	}
	if len(f.Payload) > MaxPayload {
		return ErrTooLong
	}
	buf := make([]byte, HeaderLen+len(f.Payload))
	buf[0] = f.Type
	binary.BigEndian.PutUint32(buf[1:HeaderLen], uint32(len(f.Payload)))
	copy(buf[HeaderLen:], f.Payload)
	_, err := w.Write(buf)
	return err
}

// Reader reads frames, reusing one buffer of at most MaxPayload bytes.
type Reader struct {
	r   *bufio.Reader
	hdr [HeaderLen]byte
	buf []byte
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, HeaderLen+MaxPayload)}
}

// Read reads the next frame. Its payload is valid until the next Read. At
// the end of r between frames it returns io.EOF, inside a frame
// io.ErrUnexpectedEOF; a length over MaxPayload is ErrTooLong and an unknown
// type ErrUnknownType, both before the payload is read: the session ends.
func (r *Reader) Read() (Frame, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return Frame{}, err
	}
	t := r.hdr[0]
	if !Known(t) {
		return Frame{}, fmt.Errorf("%w %q", ErrUnknownType, t)
	}
	n := binary.BigEndian.Uint32(r.hdr[1:])
	if n > MaxPayload {
		return Frame{}, fmt.Errorf("%w: %d bytes", ErrTooLong, n)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n, MaxPayload)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	return Frame{Type: t, Payload: r.buf}, nil
}

// Resize returns the frame of a terminal size.
func Resize(cols, rows uint16) Frame {
	p := make([]byte, 4)
	binary.BigEndian.PutUint16(p[0:2], cols)
	binary.BigEndian.PutUint16(p[2:4], rows)
	return Frame{Type: TypeResize, Payload: p}
}

// ParseResize returns the size a resize frame's payload carries.
func ParseResize(p []byte) (cols, rows uint16, err error) {
	if len(p) != 4 {
		return 0, 0, fmt.Errorf("%w: resize of %d bytes, want 4", ErrBadPayload, len(p))
	}
	return binary.BigEndian.Uint16(p[0:2]), binary.BigEndian.Uint16(p[2:4]), nil
}

// HelloMsg is the payload of a hello frame.
type HelloMsg struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// NewHello returns the hello frame of a session.
func NewHello(id, secret string) Frame {
	p, _ := json.Marshal(HelloMsg{ID: id, Secret: secret}) // strings always marshal
	return Frame{Type: TypeHello, Payload: p}
}

// ParseHello returns the hello a hello frame's payload carries.
func ParseHello(p []byte) (HelloMsg, error) {
	var h HelloMsg
	if err := json.Unmarshal(p, &h); err != nil {
		return HelloMsg{}, fmt.Errorf("%w: hello: %v", ErrBadPayload, err)
	}
	if h.ID == "" || h.Secret == "" {
		return HelloMsg{}, fmt.Errorf("%w: hello without id or secret", ErrBadPayload)
	}
	return h, nil
}

// ExitMsg is the payload of an exit frame: the session's exit status, the
// name of the signal that ended it ("" if none, as "KILL"), and why it
// could not start or was ended ("" if neither).
type ExitMsg struct {
	Status int    `json:"status"`
	Signal string `json:"signal"`
	Error  string `json:"error"`
}

// MaxExitError bounds the error text of an exit frame, so that the frame
// stays far under MaxPayload.
const MaxExitError = 1 << 10

// Exit returns the exit frame of e, its error cut to MaxExitError bytes.
func Exit(e ExitMsg) Frame {
	if len(e.Error) > MaxExitError {
		e.Error = strings.ToValidUTF8(e.Error[:MaxExitError], "")
	}
	p, _ := json.Marshal(e) // an int and strings always marshal
	return Frame{Type: TypeExit, Payload: p}
}

// ParseExit returns the exit an exit frame's payload carries.
func ParseExit(p []byte) (ExitMsg, error) {
	var e ExitMsg
	if err := json.Unmarshal(p, &e); err != nil {
		return ExitMsg{}, fmt.Errorf("%w: exit: %v", ErrBadPayload, err)
	}
	return e, nil
}

// The signals a signal frame may carry, by their numbers on the wire (those
// of Linux, whatever the agent's system numbers them).
const (
	SigHUP  byte = 1
	SigINT  byte = 2
	SigQUIT byte = 3
	SigKILL byte = 9
	SigTERM byte = 15
	SigTSTP byte = 20
)

var signalNames = map[byte]string{
	SigHUP: "HUP", SigINT: "INT", SigQUIT: "QUIT", SigKILL: "KILL", SigTERM: "TERM", SigTSTP: "TSTP",
}

// SignalName returns the name of a signal a frame may carry ("INT"), or ""
// if the number is not one of them.
func SignalName(n byte) string { return signalNames[n] }

// SignalNumber returns the wire number of a signal named as SignalName names
// it, and whether it is one a frame may carry.
func SignalNumber(name string) (byte, bool) {
	for n, s := range signalNames {
		if s == name {
			return n, true
		}
	}
	return 0, false
}

// SignalFrame returns the frame of signal n.
func SignalFrame(n byte) Frame { return Frame{Type: TypeSignal, Payload: []byte{n}} }

// ParseSignal returns the signal number a signal frame's payload carries.
func ParseSignal(p []byte) (byte, error) {
	if len(p) != 1 {
		return 0, fmt.Errorf("%w: signal of %d bytes, want 1", ErrBadPayload, len(p))
	}
	if SignalName(p[0]) == "" {
		return 0, fmt.Errorf("%w: signal %d is not one a session takes", ErrBadPayload, p[0])
	}
	return p[0], nil
}
