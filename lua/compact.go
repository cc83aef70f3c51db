package lua

import (
	"slices"

	glua "github.com/yuin/gopher-lua"
)

// compact gives each slice of a compiled prototype, and of the prototypes
// nested in it, the length it uses. gopher-lua's compiler grows a
// function's code and line table in buffers of 1,024 entries and hands
// the prototype slices of them, so every function of a check, however
// short, holds about 16 KiB for as long as the library is loaded: for the
// embedded library alone, more than the rest of an idle agent's heap.
// The prototypes are read-only once compiled, so copies serve as well.
func compact(p *glua.FunctionProto) {
	if p == nil {
		return
	}
	p.Code = slices.Clip(slices.Clone(p.Code))
	p.Constants = slices.Clip(slices.Clone(p.Constants))
	p.FunctionPrototypes = slices.Clip(slices.Clone(p.FunctionPrototypes))
	p.DbgSourcePositions = slices.Clip(slices.Clone(p.DbgSourcePositions))
	p.DbgLocals = slices.Clip(slices.Clone(p.DbgLocals))
	p.DbgCalls = slices.Clip(slices.Clone(p.DbgCalls))
	p.DbgUpvalues = slices.Clip(slices.Clone(p.DbgUpvalues))
	for _, c := range p.FunctionPrototypes {
		compact(c)
	}
}
