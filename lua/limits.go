package lua

import (
	"sort"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// Memory. gopher-lua has no bound on the memory of a state: a check can
// build strings and tables until the process runs out, and Go ends a
// process that runs out of memory. The run's timeout stops growth made by
// Lua code, one instruction at a time, but a single call of a library
// function can ask for gigabytes at once, before any deadline is looked
// at, and the Go runtime cannot refuse it. So the library functions whose
// result can be far larger than their arguments check its size first and
// raise an error beyond maxString. What Lua code grows step by step (a
// table filled in a loop, a string doubled by ..) is bounded only by the
// timeout; the registry and the call stack have gopher-lua's fixed sizes.

// maxString is the longest string string.rep, string.format, string.gsub
// (see patternlib.go), table.concat and json.encode will build: the
// largest body the http module may return.
const maxString = maxMaxBody

// limitLibraries replaces the library functions of L whose result may be
// far larger than their arguments with versions that check its size
// first, and table.sort with one that stops at the run's deadline.
func limitLibraries(L *glua.LState) {
	str := L.GetGlobal(glua.StringLibName).(*glua.LTable)
	tbl := L.GetGlobal(glua.TabLibName).(*glua.LTable)
	rep := str.RawGetString("rep").(*glua.LFunction).GFunction
	concat := tbl.RawGetString("concat").(*glua.LFunction).GFunction
	str.RawSetString("rep", L.NewFunction(func(L *glua.LState) int {
		s, n := L.CheckString(1), L.CheckInt(2)
		if size := float64(len(s)) * float64(n); size > maxString {
			L.RaiseError("string.rep: the result would be %.0f bytes, more than the limit of %d", size, maxString)
		}
		return rep(L)
	}))
	tbl.RawSetString("concat", L.NewFunction(func(L *glua.LState) int {
		limitConcat(L)
		return concat(L)
	}))
	format := str.RawGetString("format").(*glua.LFunction).GFunction
	str.RawSetString("format", L.NewFunction(func(L *glua.LState) int {
		limitFormat(L)
		return format(L)
	}))
	timeSort(L, tbl)
}

// maxFormatWidth is the largest width or precision Go's fmt takes, which
// string.format uses: a larger one is refused (%!(BADWIDTH)).
const maxFormatWidth = 1e7

// limitFormat checks that string.format(format, ...) builds at most
// maxString bytes. Each verb writes at most its width and precision, and
// its argument at most four times over (%q escapes a byte as \xff):
// without the check, a format of a few thousand "%999999d" asks for
// gigabytes in one call.
func limitFormat(L *glua.LState) {
	f := L.CheckString(1)
	size := float64(len(f))
	number := func(i int) (float64, int) {
		n := 0.0
		for ; i < len(f) && '0' <= f[i] && f[i] <= '9'; i++ {
			n = min(n*10+float64(f[i]-'0'), maxFormatWidth)
		}
		return n, i
	}
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		for i++; i < len(f) && strings.IndexByte("+-# 0", f[i]) >= 0; i++ {
		}
		var width, prec float64
		width, i = number(i)
		if i < len(f) && f[i] == '.' {
			prec, i = number(i + 1)
		}
		size += width + prec
	}
	const digits = 400 // of any float64, and a sign
	for n := 2; n <= L.GetTop(); n++ {
		size += 4*float64(len(L.Get(n).String())) + digits
	}
	if size > maxString {
		L.RaiseError("string.format: the result could be %.0f bytes, more than the limit of %d", size, maxString)
	}
}

// sortChecked is the length from which table.sort looks at the run's
// context as it sorts: below it, sorting takes milliseconds.
const sortChecked = 1 << 16

// timeSort bounds the time of table.sort. Given no function, gopher-lua's
// compares in Go, which no deadline stops, and sorting millions of values
// takes seconds. A longer table is sorted here instead, by the same
// algorithm (sort.Sort) with the same comparisons, so the same order,
// looking at the run's context every checkEvery comparisons. A function
// given is Lua, which the deadline stops anyway.
func timeSort(L *glua.LState, tbl *glua.LTable) {
	gopherSort := tbl.RawGetString("sort").(*glua.LFunction).GFunction
	tbl.RawSetString("sort", L.NewFunction(func(L *glua.LState) int {
		t := L.CheckTable(1)
		n := t.Len()
		if L.GetTop() != 1 || n < sortChecked {
			return gopherSort(L)
		}
		s := &checkedSorter{L: L, values: make([]glua.LValue, n)}
		for i := range s.values {
			s.values[i] = t.RawGetInt(i + 1)
		}
		if ctx := L.Context(); ctx != nil {
			s.done = ctx.Done()
		}
		sort.Sort(s)
		for i, v := range s.values {
			t.RawSetInt(i+1, v)
		}
		return 0
	}))
}

// checkedSorter sorts Lua values with Lua's <, raising the run's context
// error once the run has ended.
type checkedSorter struct {
	L      *glua.LState
	values []glua.LValue
	calls  int
	done   <-chan struct{}
}

func (s *checkedSorter) Len() int      { return len(s.values) }
func (s *checkedSorter) Swap(i, j int) { s.values[i], s.values[j] = s.values[j], s.values[i] }

func (s *checkedSorter) Less(i, j int) bool {
	if s.calls++; s.calls%checkEvery == 0 {
		select {
		case <-s.done:
			s.L.RaiseError("%s", s.L.Context().Err().Error())
		default:
		}
	}
	return s.L.LessThan(s.values[i], s.values[j])
}

// limitConcat checks that table.concat(t, sep, i, j) builds at most
// maxString bytes.
func limitConcat(L *glua.LState) {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	n := t.Len()
	i, j := max(L.OptInt(3, 1), 1), min(L.OptInt(4, n), n)
	size := 0.0
	for k := i; k <= j; k++ {
		if v := t.RawGetInt(k); glua.LVCanConvToString(v) {
			size += float64(len(glua.LVAsString(v)) + len(sep))
		}
		if size > maxString {
			L.RaiseError("table.concat: the result would be more than the limit of %d bytes", maxString)
		}
	}
}
