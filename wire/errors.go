package wire

// Code is a protocol error code, the token an error message carries.
type Code string

// The error codes of protocol version 1.
const (
	CodeBadCommand                 Code = "bad_command"
	CodeUnknownCommand             Code = "unknown_command"
	CodeBadArgument                Code = "bad_argument"
	CodeLineTooLong                Code = "line_too_long"
	CodeBlobTooLarge               Code = "blob_too_large"
	CodeBadBlobTerminator          Code = "bad_blob_terminator"
	CodeBadHello                   Code = "bad_hello"
	CodeHelloTimeout               Code = "hello_timeout"
	CodeUnsupportedProtocolVersion Code = "unsupported_protocol_version"
	CodeNotAuthorized              Code = "not_authorized"
	CodeShuttingDown               Code = "shutting_down"
	// CodeTryElsewhere (an extension) is a helen at its bound of sessions
	// sending the agent to another helen, whose addresses may follow
	// (TryElsewhere).
	CodeTryElsewhere Code = "try_elsewhere"
)

// Known reports whether c is one of the error codes of protocol version 1.
func (c Code) Known() bool {
	switch c {
	case CodeBadCommand, CodeUnknownCommand, CodeBadArgument, CodeLineTooLong,
		CodeBlobTooLarge, CodeBadBlobTerminator, CodeBadHello, CodeHelloTimeout,
		CodeUnsupportedProtocolVersion, CodeNotAuthorized, CodeShuttingDown, CodeTryElsewhere:
		return true
	}
	return false
}

// ProtocolError reports input, or a message to write, that breaks the
// protocol. A peer that sent such input is told Code in an error message.
type ProtocolError struct {
	Code   Code
	Detail string // for logs, never sent
	// InSync reports whether the stream is still at a message boundary, so
	// the reader could go on. A Writer's errors are always in sync: it wrote
	// nothing.
	InSync bool
}

// Error returns the code and the detail.
func (e *ProtocolError) Error() string {
	if e.Detail == "" {
		return "wire: " + string(e.Code)
	}
	return "wire: " + string(e.Code) + ": " + e.Detail
}

// Is reports whether target is a *ProtocolError with the same Code, so that
// errors.Is(err, &ProtocolError{Code: CodeBadHello}) matches any bad_hello.
func (e *ProtocolError) Is(target error) bool {
	t, ok := target.(*ProtocolError)
	return ok && t.Code == e.Code
}
