package lua

import (
	"errors"
	"fmt"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// maxTraceFrames bounds the traceback kept of a failed call.
const maxTraceFrames = 12

// protected is what a state needs to call Lua code: a Go function that
// calls its first argument with the others, under a guard that turns a Go
// panic anywhere below it (in gopher-lua itself, or in a method of a
// module's userdata that no module guard wraps) into a Lua error and a
// call of onPanic; and an error handler that keeps a short traceback.
type protected struct {
	call    *glua.LFunction
	handler *glua.LFunction
	trace   string // the traceback of the last failed call
}

func newProtected(L *glua.LState, onPanic func(string, any)) *protected {
	p := &protected{}
	p.call = L.NewFunction(guard("the check's code", func(L *glua.LState) int {
		L.Call(L.GetTop()-1, 1)
		return 1
	}, onPanic))
	p.handler = L.NewFunction(func(L *glua.LState) int {
		p.trace = traceback(L)
		return 1 // the error value, unchanged
	})
	return p
}

// pcall calls fn with args and returns its one result, or the error that
// stopped it with its traceback in p.trace. gopher-lua's own traceback,
// built when PCall has no handler, writes a line per tail call: a check
// looping by tail calls until its timeout makes millions, and the time and
// memory to write them, past any deadline.
func (p *protected) pcall(L *glua.LState, fn *glua.LFunction, args ...glua.LValue) (glua.LValue, error) {
	p.trace = ""
	L.Push(p.call)
	L.Push(fn)
	for _, a := range args {
		L.Push(a)
	}
	if err := L.PCall(len(args)+1, 1, p.handler); err != nil {
		return nil, err
	}
	ret := L.Get(-1)
	L.Pop(1)
	return ret, nil
}

// traceback describes the calls L is in, innermost first, at most
// maxTraceFrames of them. It runs as PCall's error handler, itself the
// innermost call, which it leaves out.
func traceback(L *glua.LState) string {
	var b strings.Builder
	b.WriteString("stack traceback:")
	for level := 1; level <= maxTraceFrames; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return b.String()
		}
		if _, err := L.GetInfo("Sln", dbg, glua.LNil); err != nil {
			return b.String()
		}
		where := dbg.Source
		if dbg.CurrentLine > 0 {
			where = fmt.Sprintf("%s:%d", dbg.Source, dbg.CurrentLine)
		}
		name := dbg.Name
		if name == "" {
			name = "?"
		}
		fmt.Fprintf(&b, "\n\t%s: in %s", where, name)
	}
	b.WriteString("\n\t...")
	return b.String()
}

// luaMessage is the message of a Lua error without gopher-lua's
// traceback. An error raised with a table, error({message = "..."}),
// gives its message field; with another value, what kind of value it was
// rather than "table: 0xc000123456".
func luaMessage(err error) string {
	var api *glua.ApiError
	if !errors.As(err, &api) || api.Object == nil {
		return err.Error()
	}
	switch v := api.Object.(type) {
	case glua.LString, glua.LNumber:
		return v.String()
	case *glua.LTable:
		switch m := v.RawGetString("message").(type) {
		case glua.LString, glua.LNumber:
			return m.String()
		}
	}
	return fmt.Sprintf("error with a %s value", api.Object.Type())
}
