package wire

import "strconv"

// Limits and names of protocol version 1.
const (
	// Version is the protocol version this package speaks.
	Version = 1
	// MaxLine is the longest command line, in bytes, including its ending.
	MaxLine = 4096
	// MaxBlob is the longest blob, in bytes.
	MaxBlob = 1 << 20
	// ALPN is the TLS application protocol name agents offer.
	ALPN = "equus/1"

	// maxString is the longest <string> token, in bytes.
	maxString = 250
)

// Kind tells which command a Message is.
type Kind uint8

// The commands of protocol version 1.
const (
	KindHello Kind = iota + 1
	KindCheck
	KindResult
	KindError
	KindReload
)

// kindWords holds the command word of each Kind, indexed by Kind.
var kindWords = [...]string{
	KindHello:  "hello",
	KindCheck:  "check",
	KindResult: "result",
	KindError:  "error",
	KindReload: "reload",
}

// String returns the command word of k, such as "check".
func (k Kind) String() string {
	if k.valid() {
		return kindWords[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// valid reports whether k is a command of protocol version 1.
func (k Kind) valid() bool {
	return k >= KindHello && k <= KindReload
}

// hasBlob reports whether a command of kind k carries a blob.
func (k Kind) hasBlob() bool {
	return k == KindCheck || k == KindResult
}

// Message is one protocol message; which fields count depends on Kind.
type Message struct {
	Kind     Kind
	Protocol int32  // hello: protocol_version
	Version  string // hello: equus_version
	Name     string // check, result: check name
	ID       int32  // check, result: message id
	// Blob holds a check's args or a result's document. A Reader allocates
	// it afresh for each message it returns; the caller owns it.
	Blob []byte
	// Text is an error's message: its code, and whatever a later version
	// sends after it, tokens joined by single spaces.
	Text string
}

// Hello returns the hello message of an agent at equusVersion, speaking this
// package's protocol Version.
func Hello(equusVersion string) Message {
	return Message{Kind: KindHello, Protocol: Version, Version: equusVersion}
}

// Check returns a check message that asks the agent to run the check name
// with args, a JSON object or nothing.
func Check(name string, id int32, args []byte) Message {
	return Message{Kind: KindCheck, Name: name, ID: id, Blob: args}
}

// Result returns the result message of the check id named name, carrying
// its result document body.
func Result(id int32, name string, body []byte) Message {
	return Message{Kind: KindResult, ID: id, Name: name, Blob: body}
}

// Error returns the error message that reports code.
func Error(code Code) Message {
	return Message{Kind: KindError, Text: string(code)}
}

// Reload returns the reload message.
func Reload() Message {
	return Message{Kind: KindReload}
}

// The checks built into every agent (PROTOCOL.md, Built-in checks), which
// helen itself sends.
const (
	// PingCheck answers ok "pong": the agent is alive and its link works.
	PingCheck = "equus.ping"
	// InfoCheck answers the agent's version, platform and bundle hash; it
	// is the first check on every connection.
	InfoCheck = "equus.info"
	// ChecksCheck answers the names and descriptions of the loaded checks.
	ChecksCheck = "equus.checks"
)

// Builtins returns the names of the built-in checks, which every agent
// answers whatever its check library.
func Builtins() []string { return []string{PingCheck, InfoCheck, ChecksCheck} }
