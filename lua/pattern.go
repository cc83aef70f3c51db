package lua

import (
	"errors"
	"strconv"
)

// Lua patterns, matched under the run's deadline. gopher-lua's matcher
// looks at no context: a pattern that backtracks, such as ".-.-.-.-b"
// against a long subject, runs for hours whatever the check's timeout,
// and in a Go call the run's timeout cannot stop. The patterns of the
// sandbox are read here exactly as gopher-lua reads them (its error
// messages, and its readings of odd patterns such as "[%a-z]"), and
// matched by Lua 5.1's backtracking algorithm (matcher.go), which looks at
// the run's context every checkEvery steps, so a match ends at the
// deadline with the rest of the run.
//
// Where gopher-lua departs from Lua 5.1 by a bug, these patterns are Lua
// 5.1: %f[set] is the frontier pattern (gopher-lua reads a literal "f"),
// and a back reference to a capture not closed before it raises "invalid
// capture index" when the match reaches it (gopher-lua sometimes matches
// the empty string there and sometimes panics). It has no cap on the
// subject's length (gopher-lua gives up on about a million bytes), only
// one of maxMatchDepth on the repetitions the match is inside at once.

var (
	errCaptureIndex   = errors.New("invalid capture index")
	errPatternComplex = errors.New("pattern too complex")
	errFrontierSet    = errors.New("missing '[' after '%f' in pattern")
)

// byteSet is a set of bytes, one bit each: every class of a pattern is
// one, so that matching a byte is a bit test.
type byteSet [4]uint64

func (s *byteSet) add(c int) { s[c>>6] |= 1 << (c & 63) }

func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }

func (s *byteSet) addSet(o *byteSet) {
	for i := range s {
		s[i] |= o[i]
	}
}

func (s *byteSet) invert() {
	for i := range s {
		s[i] = ^s[i]
	}
}

// only reports whether s holds exactly one byte, and which.
func (s *byteSet) only() (byte, bool) {
	n, which := 0, 0
	for c := range 256 {
		if s.has(byte(c)) {
			n, which = n+1, c
		}
	}
	return byte(which), n == 1
}

// classSet is the set of %c: a letter class (upper case for its
// complement), or c itself for any other byte, and nothing for -1, a "%"
// that ends the pattern (gopher-lua's reading: it never matches).
func classSet(c int) byteSet {
	var s byteSet
	if c < 0 {
		return s
	}
	lower := c | 0x20
	in := func(b int) bool {
		switch lower {
		case 'a':
			return 'a' <= b|0x20 && b|0x20 <= 'z'
		case 'c':
			return b < 0x20 || b == 0x7f
		case 'd':
			return '0' <= b && b <= '9'
		case 'l':
			return 'a' <= b && b <= 'z'
		case 'p':
			return 0x21 <= b && b <= 0x2f || 0x3a <= b && b <= 0x40 || 0x5b <= b && b <= 0x60 || 0x7b <= b && b <= 0x7e
		case 's':
			return b == ' ' || '\t' <= b && b <= '\r'
		case 'u':
			return 'A' <= b && b <= 'Z'
		case 'w':
			return '0' <= b && b <= '9' || 'a' <= b|0x20 && b|0x20 <= 'z'
		case 'x':
			return '0' <= b && b <= '9' || 'a' <= b|0x20 && b|0x20 <= 'f'
		case 'z':
			return b == 0
		}
		return b == c
	}
	switch lower {
	case 'a', 'c', 'd', 'l', 'p', 's', 'u', 'w', 'x', 'z':
	default:
		s.add(c)
		return s
	}
	for b := range 256 {
		if in(b) != ('A' <= c && c <= 'Z') {
			s.add(b)
		}
	}
	return s
}

// itemKind is what an item of a compiled pattern matches.
type itemKind uint8

const (
	itemSingle   itemKind = iota // a byte of set, repeated as rep says
	itemOpen                     // the start of capture n
	itemClose                    // the end of capture n
	itemPosition                 // position capture n
	itemBackref                  // the text of capture n again
	itemBalance                  // %bxy: x, then text balanced in x and y, then y
	itemFrontier                 // %f[set]: between a byte not in set and one in it
)

type patItem struct {
	kind itemKind
	rep  byte // itemSingle: 0 (once), '*', '+', '-' or '?'
	n    int  // capture number
	set  byteSet
	// itemBalance: the two bytes, -1 for one missing (never matches).
	open, close int
	// itemBackref: capture n is closed before this item, so the
	// reference can match; otherwise reaching it is an error.
	valid bool
}

// pattern is a compiled Lua pattern.
type pattern struct {
	items    []patItem
	anchored bool // ^: matches only at the start position
	tail     bool // $: matches only up to the end of the subject
	// position tells, for each capture from 1, whether it is a position
	// capture, (), which gives a number rather than text.
	position []bool
	// first is the set every match starts with a byte of, when the
	// pattern says, and one its only byte: the start positions that
	// cannot match are skipped.
	first  *byteSet
	one    byte
	hasOne bool
}

// compilePattern reads a Lua pattern. Its errors are gopher-lua's, word
// for word: "unexpected EOS at 3", "unfinished capture at EOS".
func compilePattern(src string) (*pattern, error) {
	ps := &patternParser{src: src, p: &pattern{position: []bool{false}}}
	if ps.peek() == '^' {
		ps.next()
		ps.p.anchored = true
	}
	if err := ps.sequence(true); err != nil {
		return nil, err
	}
	p := ps.p
	if len(p.items) > 0 && !p.anchored {
		if it := &p.items[0]; it.kind == itemSingle && (it.rep == 0 || it.rep == '+') {
			p.first = &it.set
			p.one, p.hasOne = it.set.only()
		}
	}
	return p, nil
}

// checkBackrefs reports a back reference of p to a capture not closed
// before it, which no subject can match without an error.
func (p *pattern) checkBackrefs() error {
	for _, it := range p.items {
		if it.kind == itemBackref && !it.valid {
			return errCaptureIndex
		}
	}
	return nil
}

// captures is the number of captures of p.
func (p *pattern) captures() int { return len(p.position) - 1 }

// hasFrontier reports whether p uses %f, which gopher-lua lacks.
func (p *pattern) hasFrontier() bool {
	for _, it := range p.items {
		if it.kind == itemFrontier {
			return true
		}
	}
	return false
}

// patternParser reads a pattern the way gopher-lua's does, so that the
// same pattern means the same, and fails with the same message at the
// same position. eos records a read past the end, after which gopher-lua
// says "at EOS".
type patternParser struct {
	src    string
	i      int
	eos    bool
	p      *pattern
	closed []bool // by capture number: its close is emitted
}

func (ps *patternParser) peek() int {
	if ps.i < len(ps.src) {
		return int(ps.src[ps.i])
	}
	return -1
}

func (ps *patternParser) next() int {
	if ps.i < len(ps.src) {
		ps.i++
		return int(ps.src[ps.i-1])
	}
	ps.eos = true
	return -1
}

// fail is an error at the position gopher-lua gives: the last byte read.
func (ps *patternParser) fail(msg string) error {
	if ps.eos {
		return errors.New(msg + " at EOS")
	}
	return errors.New(msg + " at " + strconv.Itoa(max(ps.i-1, 0)))
}

func (ps *patternParser) emit(it patItem) { ps.p.items = append(ps.p.items, it) }

func (ps *patternParser) single(set byteSet) { ps.emit(patItem{kind: itemSingle, set: set}) }

func (ps *patternParser) literal(c int) {
	var s byteSet
	s.add(c)
	ps.single(s)
}

// newCapture numbers the next capture.
func (ps *patternParser) newCapture(position bool) int {
	ps.p.position = append(ps.p.position, position)
	ps.closed = append(ps.closed, position)
	return len(ps.p.position) - 1
}

// sequence reads items up to the end of the pattern, or at a nested
// level up to the ")" that closes it, which it leaves unread.
func (ps *patternParser) sequence(top bool) error {
	for {
		switch c := ps.peek(); c {
		case '%':
			ps.next()
			if err := ps.escape(); err != nil {
				return err
			}
		case '.':
			ps.next()
			var all byteSet
			all.invert()
			ps.single(all)
		case '[':
			ps.next()
			set, err := ps.set()
			if err != nil {
				return err
			}
			ps.single(set)
		case ')':
			if top {
				return ps.fail("invalid ')'")
			}
			return nil
		case '(':
			ps.next()
			if ps.peek() == ')' {
				ps.next()
				ps.emit(patItem{kind: itemPosition, n: ps.newCapture(true)})
				continue
			}
			n := ps.newCapture(false)
			ps.emit(patItem{kind: itemOpen, n: n})
			if err := ps.sequence(false); err != nil {
				return err
			}
			if ps.peek() != ')' {
				return ps.fail("unfinished capture")
			}
			ps.next()
			ps.emit(patItem{kind: itemClose, n: n})
			ps.closed[n-1] = true
		case '*', '+', '-', '?':
			ps.next()
			if last := len(ps.p.items) - 1; last >= 0 && ps.p.items[last].kind == itemSingle && ps.p.items[last].rep == 0 {
				ps.p.items[last].rep = byte(c)
			} else {
				ps.literal(c)
			}
		case '$':
			if top && ps.i == len(ps.src)-1 {
				ps.p.tail = true
			} else {
				ps.literal(c)
			}
			ps.next()
		case -1:
			ps.next()
			return nil
		default:
			ps.next()
			ps.literal(c)
		}
	}
}

// escape reads what follows a "%" outside a set.
func (ps *patternParser) escape() error {
	switch d := ps.peek(); {
	case d == '0':
		return ps.fail("invalid capture index")
	case '1' <= d && d <= '9':
		ps.next()
		n := d - '0'
		valid := n <= len(ps.closed) && ps.closed[n-1]
		ps.emit(patItem{kind: itemBackref, n: n, valid: valid})
	case d == 'b':
		ps.next()
		open := ps.next()
		ps.emit(patItem{kind: itemBalance, open: open, close: ps.next()})
	case d == 'f':
		ps.next()
		if ps.peek() != '[' {
			return errFrontierSet
		}
		ps.next()
		set, err := ps.set()
		if err != nil {
			return err
		}
		ps.emit(patItem{kind: itemFrontier, set: set})
	default:
		ps.single(classSet(ps.next()))
	}
	return nil
}

// setElem is an element of a set being read: a plain byte, which can
// begin or end a range, or a class (%a, an escaped byte, a range).
type setElem struct {
	plain bool
	c     int
	set   byteSet
}

// set reads a set after its "[". As in gopher-lua, a range needs plain
// bytes at both ends ("[%a-z]" has a range that matches nothing), and a
// "-" after a range starts another from that range (matching nothing).
func (ps *patternParser) set() (byteSet, error) {
	negate := false
	if ps.peek() == '^' {
		ps.next()
		negate = true
	}
	var elems []setElem
	inRange := false
	for done := false; !done; {
		switch c := ps.peek(); {
		case c == -1:
			return byteSet{}, ps.fail("unexpected EOS")
		case c == ']' && len(elems) > 0:
			ps.next()
			done = true
			continue
		case c == '-' && len(elems) > 0:
			ps.next()
			inRange = true
			continue
		default:
			elems = append(elems, ps.setElem())
		}
		if inRange {
			lo, hi := elems[len(elems)-2], elems[len(elems)-1]
			r := setElem{}
			if lo.plain && hi.plain {
				for b := lo.c; b <= hi.c; b++ {
					r.set.add(b)
				}
			}
			elems = append(elems[:len(elems)-2], r)
			inRange = false
		}
	}
	var set byteSet
	for _, e := range elems {
		set.addSet(&e.set)
	}
	if inRange {
		set.add('-')
	}
	if negate {
		set.invert()
	}
	return set, nil
}

// setElem reads one element of a set: %c, or a plain byte ("." and "["
// included).
func (ps *patternParser) setElem() setElem {
	c := ps.next()
	if c == '%' {
		return setElem{set: classSet(ps.next())}
	}
	e := setElem{plain: true, c: c}
	e.set.add(c)
	return e
}
