// Package agentname is the one rule for agent names. Every place that takes
// or keeps an agent's name (helen token, issue and revoke, the store,
// enrollment, the agent's --name, the certificate an agent connects with)
// asks Check, so that a name one of them accepts is a name all of them
// accept: a token for a name no agent can enroll under cannot be made.
//
// An agent name is 1 to 64 bytes of A-Z a-z 0-9 . _ -, not starting with
// '.' or '-'. Such a name is safe as a file name (helen issue writes
// NAME.pem), a word of a shell command (the join command's --name), a
// certificate's Common Name, a database key and a log field, and reads the
// same on every terminal.
package agentname

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxLen is the longest agent name, in bytes.
const MaxLen = 64

// Rule says in words what Check accepts, for error messages and help.
const Rule = "an agent name is 1 to 64 bytes of A-Z a-z 0-9 . _ -, not starting with . or -"

// ErrInvalid is returned, wrapped, for a name that breaks the rule.
var ErrInvalid = errors.New("bad agent name")

// Valid reports whether name can name an agent.
func Valid(name string) bool {
	if len(name) == 0 || len(name) > MaxLen || name[0] == '.' || name[0] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !allowed(name[i]) {
			return false
		}
	}
	return true
}

// Check returns nil for a valid agent name, else an error wrapping
// ErrInvalid that quotes the name (escaped, so it is safe to print) and
// says what is wrong with it and what the rule is.
func Check(name string) error {
	if Valid(name) {
		return nil
	}
	return fmt.Errorf("%w %q: %s (%s)", ErrInvalid, name, why(name), Rule)
}

// why says what breaks the rule in name, which does.
func why(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > MaxLen:
		return fmt.Sprintf("%d bytes, more than %d", len(name), MaxLen)
	case name[0] == '.' || name[0] == '-':
		return fmt.Sprintf("starts with %q", name[0])
	}
	for i := 0; i < len(name); {
		if allowed(name[i]) {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size <= 1 {
			return fmt.Sprintf("byte %d is %#x, not UTF-8", i, name[i])
		}
		return fmt.Sprintf("%q at byte %d is not allowed", r, i)
	}
	return "not allowed" // unreachable: Valid refused it for one of the above
}

func allowed(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '.', c == '_', c == '-':
		return true
	}
	return false
}
