package lua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/equus-monitoring/equus/result"
)

// state is a pooled Lua state with what it keeps between runs: its own Env
// and the run function of each check it has already loaded, so a warm run
// is one call.
type state struct {
	L    *glua.LState
	env  *Env
	runs map[*entry]*glua.LFunction
	// readOnly holds the metatables of the library proxies, by name.
	readOnly map[string]*glua.LTable
	base     *glua.LTable // the globals checks see, made by checkEnv
	prot     *protected
	panic    string // the Go panic of the current run, if any
	log      func(level slog.Level, msg string)
}

// newState opens a sandboxed state for rt.
func (rt *Runtime) newState() *state {
	s := &state{
		env:      &Env{Exec: rt.opts.Exec, PrivatePaths: rt.opts.PrivatePaths, Log: rt.opts.Log},
		runs:     map[*entry]*glua.LFunction{},
		readOnly: map[string]*glua.LTable{},
	}
	s.log = func(level slog.Level, msg string) { rt.log(level, s.env.Check, msg) }
	onPanic := func(what string, v any) {
		if s.panic == "" {
			s.panic = fmt.Sprintf("go panic in %s: %v", what, v)
		}
		s.log(slog.LevelError, panicReport(what, v))
	}
	s.L = newSandbox(s.env, onPanic)
	s.prot = newProtected(s.L, onPanic)
	return s
}

func (s *state) close() { s.L.Close() }

// get takes an idle state of lib, or opens a new one.
func (rt *Runtime) get(lib *library) *state {
	select {
	case s := <-lib.idle:
		return s
	default:
		return rt.newState()
	}
}

// put returns s to lib's pool, unless the pool is full or lib is no longer
// the runtime's library.
func (rt *Runtime) put(lib *library, s *state) {
	if rt.closed.Load() || rt.lib.Load() != lib {
		s.close()
		return
	}
	select {
	case lib.idle <- s:
	default:
		s.close()
	}
}

// drain closes the idle states of lib.
func drain(lib *library) {
	for {
		select {
		case s := <-lib.idle:
			s.close()
		default:
			return
		}
	}
}

// loaded is what the top-level code of a check file returns: its run
// function, and from the table form its description and the declaration
// of its args.
type loaded struct {
	run         *glua.LFunction
	description string
	// args is the parsed declaration; declared reports whether there is
	// one (a check without one checks its args itself, if at all).
	args     []argSpec
	declared bool
}

// eval runs the top-level code of e in s, in an environment of its own
// (see checkEnv), so that neither a check's globals nor its changes to
// the libraries reach another check run by the same state.
func (s *state) eval(e *entry) (loaded, error) {
	L := s.L
	fn := L.NewFunctionFromProto(e.proto)
	fn.Env = s.checkEnv()
	ret, err := s.prot.pcall(L, fn)
	if err != nil {
		return loaded{}, fmt.Errorf("loading: %s", luaMessage(err))
	}
	switch ret := ret.(type) {
	case *glua.LFunction:
		return loaded{run: ret}, nil
	case *glua.LTable:
		var l loaded
		var ok bool
		if l.run, ok = ret.RawGetString("run").(*glua.LFunction); !ok {
			return loaded{}, errors.New("the returned table has no run function")
		}
		switch desc := ret.RawGetString("description").(type) {
		case glua.LString:
			l.description = string(desc)
		case *glua.LNilType:
		default:
			return loaded{}, fmt.Errorf("description is a %s, want a string", desc.Type())
		}
		switch args := ret.RawGetString("args").(type) {
		case *glua.LTable:
			if l.args, err = parseSpec(args); err != nil {
				return loaded{}, fmt.Errorf("args: %w", err)
			}
			l.declared = true
		case *glua.LNilType:
		default:
			return loaded{}, fmt.Errorf("args is a %s, want a table", args.Type())
		}
		return l, nil
	}
	return loaded{}, fmt.Errorf("the file returned %s, want a table with run or a function", typeName(ret))
}

// run calls e's run function with args under ctx. It reports whether s
// may go back to the pool: not after an error, a panic or a timeout, which
// may have left it in the middle of something.
func (s *state) run(ctx context.Context, timeout time.Duration, e *entry, args map[string]any) (result.Doc, bool) {
	L := s.L
	s.env.Check = e.name
	s.panic = ""
	L.SetContext(ctx)
	defer L.RemoveContext()
	fn := s.runs[e]
	if fn == nil {
		l, err := s.eval(e)
		if err != nil {
			return s.failure(ctx, timeout, err), false
		}
		fn = l.run
		s.runs[e] = fn
	}
	in := decodeObject(L, args)
	// The declaration read when the library loaded, the one --describe
	// shows, is the one args are held to.
	if e.declared {
		if err := validate(in, e.args); err != nil {
			return result.Unknownf("%v", err), true
		}
	}
	ret, err := s.prot.pcall(L, fn, in)
	if err != nil {
		if s.panic == "" && ctx.Err() == nil {
			s.log(slog.LevelDebug, "lua error: "+luaMessage(err)+"\n"+s.prot.trace)
		}
		return s.failure(ctx, timeout, errors.New(luaMessage(err))), false
	}
	if s.panic != "" {
		// The check caught the panic with pcall, but a bug in a Go
		// module must not be hidden behind whatever it returned.
		return result.Unknownf("%s", s.panic), false
	}
	doc, err := toDoc(ret)
	if err != nil {
		return result.Unknownf("bad return value: %v", err), true
	}
	return doc, true
}

// failure turns the error of a failed run into a result, saying first
// whether the run ran out of time, then whether a Go module panicked.
func (s *state) failure(ctx context.Context, timeout time.Duration, err error) result.Doc {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return result.Unknownf("timed out after %s", timeout)
		}
		return result.Unknownf("canceled: %v", ctx.Err())
	}
	if s.panic != "" {
		return result.Unknownf("%s", s.panic)
	}
	return result.Unknownf("%v", err)
}

// typeName names the type of v for a message, "nothing" for nil.
func typeName(v glua.LValue) string {
	if v == glua.LNil {
		return "nothing"
	}
	return "a " + v.Type().String()
}
