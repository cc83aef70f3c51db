package wire

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ValidString reports whether s follows the <string> rules: 1 to 250 bytes
// of valid UTF-8 with no space and no control character (a byte below 0x20,
// or 0x7f).
func ValidString(s string) bool {
	if len(s) < 1 || len(s) > maxString {
		return false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.ValidString(s)
}

// validText reports whether s is an error message's text as a Writer sends
// it and a Reader returns it: one or more <string> tokens joined by single
// spaces.
func validText(s string) bool {
	for {
		tok, rest, more := strings.Cut(s, " ")
		if !ValidString(tok) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// parseInt parses an <int>: ASCII digits, no sign, no leading zero except
// "0" itself, at most math.MaxInt32. It reports whether b was one.
func parseInt(b []byte) (int32, bool) {
	// Ten digits hold every int32; more would overflow the sum below.
	if len(b) == 0 || len(b) > 10 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > math.MaxInt32 {
		return 0, false
	}
	return int32(n), true
}

// nextToken returns the first token of b, the bytes up to a space after
// skipping any leading spaces, and what follows it. tok is empty when b
// holds nothing but spaces.
func nextToken(b []byte) (tok, rest []byte) {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' {
		j++
	}
	return b[i:j], b[j:]
}

// fields splits b at runs of spaces into dst. It returns how many tokens it
// stored and reports whether more followed than dst holds.
func fields(b []byte, dst [][]byte) (n int, more bool) {
	for {
		var tok []byte
		tok, b = nextToken(b)
		if len(tok) == 0 {
			return n, false
		}
		if n == len(dst) {
			return n, true
		}
		dst[n] = tok
		n++
	}
}

// quote returns b quoted for a log line, cut short when long.
func quote(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}
