package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Reader reads messages from a stream. It is not safe for concurrent use.
type Reader struct {
	br *bufio.Reader
	// err is kept once the stream has lost its place, so that no later
	// Read takes blob bytes for a command line.
	err error
}

// NewReader returns a Reader that reads from r. Its buffer holds one
// command line at most, so a line without an end costs no more than that.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, MaxLine)}
}

// Read returns the next message. The error is io.EOF at a clean end between
// messages, io.ErrUnexpectedEOF at an end inside one, a *ProtocolError for
// input that breaks the protocol, or another error from the underlying
// reader. After a *ProtocolError that is not InSync, Read returns it again.
func (r *Reader) Read() (Message, error) {
	if r.err != nil {
		return Message{}, r.err
	}
	m, err := r.read()
	if pe, ok := err.(*ProtocolError); ok && !pe.InSync {
		r.err = err
	}
	return m, err
}

func (r *Reader) read() (Message, error) {
	line, err := r.readLine()
	if err != nil {
		return Message{}, err
	}
	word, args := nextToken(line)
	// The conversions in the switch do not allocate.
	switch string(word) {
	case "check":
		return r.readBlobCommand(KindCheck, args)
	case "result":
		return r.readBlobCommand(KindResult, args)
	case "hello":
		return parseHello(args)
	case "error":
		return parseError(args)
	case "reload":
		if tok, _ := nextToken(args); len(tok) != 0 {
			return Message{}, inSync(CodeBadCommand, "reload takes no argument")
		}
		return Reload(), nil
	case "":
		return Message{}, inSync(CodeBadCommand, "empty line")
	}
	return Message{}, inSync(CodeUnknownCommand, "command "+quote(word))
}

// readLine returns the next command line without its ending. The line is
// valid until the next read from r.br.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	switch {
	case err == nil:
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, outOfSync(CodeLineTooLong, fmt.Sprintf("no line end in %d bytes", len(line)))
	case err == io.EOF:
		if len(line) == 0 {
			return nil, io.EOF
		}
		return nil, io.ErrUnexpectedEOF
	default:
		return nil, err
	}
	// A caller's *bufio.Reader passed to NewReader may be larger than ours.
	if len(line) > MaxLine {
		return nil, inSync(CodeLineTooLong, fmt.Sprintf("line of %d bytes", len(line)))
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readBlobCommand parses the arguments of a check or a result and reads
// the blob that follows.
func (r *Reader) readBlobCommand(kind Kind, args []byte) (Message, error) {
	var tok [3][]byte
	if n, more := fields(args, tok[:]); n != len(tok) || more {
		return Message{}, outOfSync(CodeBadCommand, fmt.Sprintf("%s takes 3 arguments", kind))
	}
	nameTok, idTok, sizeTok := tok[0], tok[1], tok[2]
	if kind == KindResult {
		nameTok, idTok = idTok, nameTok
	}
	name := string(nameTok)
	id, idOK := parseInt(idTok)
	size, sizeOK := parseInt(sizeTok)
	var perr *ProtocolError
	switch {
	case !ValidString(name):
		perr = outOfSync(CodeBadArgument, fmt.Sprintf("%s: check name %s is not a <string>", kind, quote(nameTok)))
	case !idOK:
		perr = outOfSync(CodeBadArgument, fmt.Sprintf("%s: message id %s is not an <int>", kind, quote(idTok)))
	case !sizeOK:
		perr = outOfSync(CodeBadArgument, fmt.Sprintf("%s: blob length %s is not an <int>", kind, quote(sizeTok)))
	case size > MaxBlob:
		// Decided from the line alone: nothing of the blob is read.
		perr = outOfSync(CodeBlobTooLarge, fmt.Sprintf("%s: blob of %d bytes", kind, size))
	}
	if perr != nil {
		if sizeOK && size <= MaxBlob {
			// The blob's length is known: step over it to the next line.
			perr.InSync = r.skipBlob(int(size)) == nil
		}
		return Message{}, perr
	}
	blob := make([]byte, size)
	if _, err := io.ReadFull(r.br, blob); err != nil {
		return Message{}, noEOF(err)
	}
	if err := r.readTerminator(); err != nil {
		return Message{}, err
	}
	return Message{Kind: kind, Name: name, ID: id, Blob: blob}, nil
}

// readTerminator reads the "\n" or "\r\n" after a blob.
func (r *Reader) readTerminator() error {
	c, err := r.br.ReadByte()
	if err == nil && c == '\r' {
		c, err = r.br.ReadByte()
	}
	if err != nil {
		return noEOF(err)
	}
	if c != '\n' {
		return outOfSync(CodeBadBlobTerminator, fmt.Sprintf("byte %q after the blob", c))
	}
	return nil
}

// skipBlob steps over a blob of size bytes and its terminator.
func (r *Reader) skipBlob(size int) error {
	if _, err := r.br.Discard(size); err != nil {
		return err
	}
	return r.readTerminator()
}

func parseHello(args []byte) (Message, error) {
	var tok [2][]byte
	if n, more := fields(args, tok[:]); n != len(tok) || more {
		return Message{}, inSync(CodeBadCommand, "hello takes 2 arguments")
	}
	proto, ok := parseInt(tok[0])
	if !ok {
		return Message{}, inSync(CodeBadArgument, "hello: protocol version "+quote(tok[0])+" is not an <int>")
	}
	v := string(tok[1])
	if !ValidString(v) || !validVersion(v) {
		return Message{}, inSync(CodeBadArgument, "hello: equus version "+quote(tok[1])+" is not a semantic version")
	}
	return Message{Kind: KindHello, Protocol: proto, Version: v}, nil
}

// parseError takes the rest of an error line as its text, so that a later
// version may send more than the code; runs of spaces become single spaces.
func parseError(args []byte) (Message, error) {
	text := make([]byte, 0, len(args))
	for {
		var tok []byte
		tok, args = nextToken(args)
		if len(tok) == 0 {
			break
		}
		if !ValidString(string(tok)) {
			return Message{}, inSync(CodeBadArgument, "error: message token "+quote(tok)+" is not a <string>")
		}
		if len(text) > 0 {
			text = append(text, ' ')
		}
		text = append(text, tok...)
	}
	if len(text) == 0 {
		return Message{}, inSync(CodeBadCommand, "error takes a message")
	}
	return Message{Kind: KindError, Text: string(text)}, nil
}

func inSync(code Code, detail string) *ProtocolError {
	return &ProtocolError{Code: code, Detail: detail, InSync: true}
}

func outOfSync(code Code, detail string) *ProtocolError {
	return &ProtocolError{Code: code, Detail: detail}
}

// noEOF turns io.EOF, which means a clean end between messages, into
// io.ErrUnexpectedEOF for an end inside one.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
