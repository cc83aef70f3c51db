package lua

import (
	"strconv"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// The pattern functions of the string library: string.find, match, gmatch
// (and its old name gfind) and gsub, on the matcher of pattern.go, so that
// they end at the run's deadline. They take and return what gopher-lua's
// take and return, quirks included (string.match returns nothing at all
// when nothing matches; string.find with an empty pattern returns 1, 0
// whatever its init), with these differences, each where gopher-lua's
// answer is a bug or a crash:
//
//   - %f[set] is the frontier pattern of Lua 5.1, and a back reference to
//     a capture not closed before it is an error (see pattern.go);
//   - string.gsub with n of 0 or less replaces nothing, as in Lua 5.1
//     (gopher-lua replaces every match, or none, by the first position);
//   - string.find(s, p, init, true) with init past the end returns nil
//     where gopher-lua panics;
//   - string.gmatch finds its matches as the loop asks for them rather
//     than all at once, so an error that only a later match meets is
//     raised by the call of the iterator that meets it, and string.gsub
//     calls a function replacement as each match is found, as Lua does;
//   - string.gsub builds its result in one pass (gopher-lua copies the
//     whole string again for every match) and refuses a result of more
//     than maxString bytes.

// installPatterns replaces gopher-lua's pattern functions in the string
// library of L.
func installPatterns(L *glua.LState) {
	str := L.GetGlobal(glua.StringLibName).(*glua.LTable)
	str.RawSetString("find", L.NewFunction(strFind))
	str.RawSetString("match", L.NewFunction(strMatch))
	gmatch := L.NewFunction(strGmatch)
	str.RawSetString("gmatch", gmatch)
	str.RawSetString("gfind", gmatch)
	str.RawSetString("gsub", L.NewFunction(strGsub))
}

// compileOrRaise compiles pat, raising its error.
func compileOrRaise(L *glua.LState, pat string) *pattern {
	p, err := compilePattern(pat)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return p
}

// findOrRaise is m.find, raising its error: the run's timeout or
// cancellation, a pattern too complex, an invalid capture index.
func findOrRaise(L *glua.LState, m *matcher, from int) bool {
	found, err := m.find(from)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return found
}

// startIndex is the index in s, from 0, of init, a position from 1 that
// counts from the end when negative; it may lie past the end.
func startIndex(s string, init int) int {
	if init > 0 {
		return init - 1
	}
	if init < 0 {
		init += len(s)
	}
	return max(init, 0)
}

// pushCaptures pushes the captures of m's match, or the whole match when
// the pattern has none and whole is set, and returns how many it pushed.
func pushCaptures(L *glua.LState, m *matcher, whole bool) int {
	n := m.p.captures()
	if n == 0 && whole {
		L.Push(glua.LString(m.src[m.caps[0].start:m.caps[0].end]))
		return 1
	}
	for i := 1; i <= n; i++ {
		L.Push(captureValue(m, i))
	}
	return n
}

// captureValue is capture i of m's match: its text, or the position
// (from 1) of a position capture.
func captureValue(m *matcher, i int) glua.LValue {
	c := m.caps[i]
	if m.p.position[i] {
		return glua.LNumber(c.start + 1)
	}
	return glua.LString(m.src[c.start:c.end])
}

// strFind is string.find(s, pattern, init, plain) -> start, end,
// captures..., or nil.
func strFind(L *glua.LState) int {
	str := L.CheckString(1)
	pat := L.CheckString(2)
	if pat == "" {
		L.Push(glua.LNumber(1))
		L.Push(glua.LNumber(0))
		return 2
	}
	init := startIndex(str, L.OptInt(3, 1))
	if L.GetTop() == 4 && glua.LVAsBool(L.Get(4)) {
		i := -1
		if init <= len(str) {
			i = strings.Index(str[init:], pat)
		}
		if i < 0 {
			L.Push(glua.LNil)
			return 1
		}
		L.Push(glua.LNumber(init + i + 1))
		L.Push(glua.LNumber(init + i + len(pat)))
		return 2
	}
	m := newMatcher(L.Context(), str, compileOrRaise(L, pat))
	if !findOrRaise(L, m, init) {
		L.Push(glua.LNil)
		return 1
	}
	L.Push(glua.LNumber(m.caps[0].start + 1))
	L.Push(glua.LNumber(m.caps[0].end))
	return 2 + pushCaptures(L, m, false)
}

// strMatch is string.match(s, pattern, init) -> captures..., the whole
// match when the pattern has no captures, or nothing.
func strMatch(L *glua.LState) int {
	str := L.CheckString(1)
	pat := L.CheckString(2)
	init := startIndex(str, L.OptInt(3, 1))
	m := newMatcher(L.Context(), str, compileOrRaise(L, pat))
	if !findOrRaise(L, m, init) {
		return 0 // not even nil, as gopher-lua's
	}
	return pushCaptures(L, m, true)
}

// strGmatch is string.gmatch(s, pattern) -> an iterator over the matches,
// which returns the captures of each, or the whole match.
func strGmatch(L *glua.LState) int {
	str := L.CheckString(1)
	p := compileOrRaise(L, L.CheckString(2))
	m := newMatcher(nil, str, p)
	from, done := 0, false
	L.Push(L.NewFunction(func(L *glua.LState) int {
		if done {
			return 0
		}
		m.setContext(L.Context()) // the iterator may outlive the run
		found := findOrRaise(L, m, from)
		if !found || p.anchored {
			done = true
		}
		if !found {
			return 0
		}
		from = max(m.caps[0].start+1, m.caps[0].end)
		return pushCaptures(L, m, true)
	}))
	return 1
}

// strGsub is string.gsub(s, pattern, repl, n) -> the string with the first
// n matches (all by default) replaced, and the number of matches. repl is
// a string, in which %0 is the match and %1 to %9 its captures, a table
// looked up with the first capture (or the match), or a function called
// with the captures (or the match); a false or nil value keeps the match.
func strGsub(L *glua.LState) int {
	str := L.CheckString(1)
	pat := L.CheckString(2)
	L.CheckTypes(3, glua.LTString, glua.LTTable, glua.LTFunction)
	repl := L.CheckAny(3)
	limit := L.OptInt(4, -1)
	m := newMatcher(L.Context(), str, compileOrRaise(L, pat))
	if L.Get(4) != glua.LNil && limit <= 0 {
		limit = 0
	}
	b := gsubBuilder{L: L}
	n, copied := 0, 0 // str[:copied] is in b
	for from := 0; from <= len(str) && (limit < 0 || n < limit); {
		if !findOrRaise(L, m, from) {
			break
		}
		n++
		start, end := m.caps[0].start, m.caps[0].end
		if text, ok := replacement(L, m, repl); ok {
			b.add(str[copied:start])
			b.add(text)
			copied = end
		}
		if m.p.anchored {
			break
		}
		from = max(start+1, end)
	}
	if n == 0 {
		L.SetTop(1) // s itself, a number left a number, as gopher-lua's
		L.Push(glua.LNumber(0))
		return 2
	}
	b.add(str[copied:])
	L.Push(glua.LString(b.buf.String()))
	L.Push(glua.LNumber(n))
	return 2
}

// gsubBuilder is the result of a gsub, bounded by maxString.
type gsubBuilder struct {
	L   *glua.LState
	buf strings.Builder
}

func (b *gsubBuilder) add(s string) {
	if b.buf.Len()+len(s) > maxString {
		b.L.RaiseError("string.gsub: the result would be more than the limit of %d bytes", maxString)
	}
	if b.buf.Cap()-b.buf.Len() < len(s) {
		// Grow doubles, where append grows a large buffer by a quarter
		// and copies the result four times over.
		b.buf.Grow(len(s))
	}
	b.buf.WriteString(s)
}

// replacement returns the text that replaces m's match, or false to keep
// the match.
func replacement(L *glua.LState, m *matcher, repl glua.LValue) (string, bool) {
	var v glua.LValue
	switch repl := repl.(type) {
	case glua.LString:
		return expandReplacement(L, m, string(repl)), true
	case *glua.LTable:
		key := 0
		if m.p.captures() > 0 {
			key = 1
		}
		if c := m.caps[key]; key > 0 && m.p.position[key] {
			v = L.GetTable(repl, glua.LNumber(c.start+1))
		} else {
			v = L.GetField(repl, m.src[c.start:c.end])
		}
	case *glua.LFunction:
		L.Push(repl)
		n := pushCaptures(L, m, true)
		L.Call(n, 1)
		v = L.Get(-1)
		L.Pop(1)
	}
	if glua.LVIsFalse(v) {
		return "", false
	}
	// A table or a boolean true gives "", as in gopher-lua.
	return glua.LVAsString(v), true
}

// expandReplacement is repl with %0 to %9 replaced by the match and its
// captures and %% by %. As in gopher-lua, "%" before another byte stays
// as it is, with that byte, and so does a "%" that ends repl.
func expandReplacement(L *glua.LState, m *matcher, repl string) string {
	if strings.IndexByte(repl, '%') < 0 {
		return repl
	}
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i == len(repl)-1 {
			b.WriteByte(c)
			continue
		}
		i++
		switch d := repl[i]; {
		case d == '%':
			b.WriteByte('%')
		case '0' <= d && d <= '9':
			b.WriteString(capturedText(L, m, int(d-'0')))
		default:
			b.WriteByte('%')
			b.WriteByte(d)
		}
	}
	return b.String()
}

// capturedText is %d of a replacement string: the match for %0, and for
// %1 too when the pattern has no captures; a position capture as its
// number.
func capturedText(L *glua.LState, m *matcher, d int) string {
	switch n := m.p.captures(); {
	case d == 0 || d == 1 && n == 0:
		return m.src[m.caps[0].start:m.caps[0].end]
	case d > n:
		L.RaiseError("invalid capture index")
	case m.p.position[d]:
		return strconv.Itoa(m.caps[d].start + 1)
	}
	return m.src[m.caps[d].start:m.caps[d].end]
}

// patternError is the error of a Lua pattern that can never be used: one
// that does not compile, or refers to a capture not closed before it. It
// is for check.args, which checks an operator's pattern before the run.
func patternError(pat string) error {
	p, err := compilePattern(pat)
	if err != nil {
		return err
	}
	return p.checkBackrefs()
}
