package lua

import (
	"runtime"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

// TestEmbeddedProtosCompact holds every compiled function of the embedded
// library to the memory it uses: a slice longer than its contents is
// memory each loaded check keeps for nothing.
func TestEmbeddedProtosCompact(t *testing.T) {
	entries, err := loadEmbedded(embedded)
	if err != nil {
		t.Fatal(err)
	}
	var funcs, spare int
	var walk func(name string, p *glua.FunctionProto)
	walk = func(name string, p *glua.FunctionProto) {
		funcs++
		for what, c := range map[string][2]int{
			"code":             {len(p.Code), cap(p.Code)},
			"constants":        {len(p.Constants), cap(p.Constants)},
			"prototypes":       {len(p.FunctionPrototypes), cap(p.FunctionPrototypes)},
			"source positions": {len(p.DbgSourcePositions), cap(p.DbgSourcePositions)},
			"locals":           {len(p.DbgLocals), cap(p.DbgLocals)},
			"calls":            {len(p.DbgCalls), cap(p.DbgCalls)},
			"upvalues":         {len(p.DbgUpvalues), cap(p.DbgUpvalues)},
		} {
			if c[1] != c[0] {
				spare++
				t.Errorf("%s: function at line %d: %s: cap %d, len %d", name, p.LineDefined, what, c[1], c[0])
			}
		}
		for _, c := range p.FunctionPrototypes {
			walk(name, c)
		}
	}
	for name, e := range entries {
		if e.err != nil {
			t.Fatalf("%s: %v", name, e.err)
		}
		walk(name, e.proto)
	}
	if funcs < len(entries) {
		t.Fatalf("walked %d functions in %d checks", funcs, len(entries))
	}
	t.Logf("%d functions in %d checks, %d slices with spare room", funcs, len(entries), spare)
}

// TestStateSize holds a new state, the sandbox as the pool makes it, to
// what it needs before it runs a check (about 30 KiB live, 60 allocated as
// the registry grows): a registry and call stack made at
// their full sizes up front take more than 100 KiB a state, which the pool
// keeps for every state it holds.
func TestStateSize(t *testing.T) {
	rt, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	const n, most = 16, 96 << 10
	states := make([]*state, 0, n)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range n {
		states = append(states, rt.newState())
	}
	runtime.ReadMemStats(&m1)
	for _, s := range states {
		s.close()
	}
	per := (m1.TotalAlloc - m0.TotalAlloc) / n
	t.Logf("a new state allocates %d KiB", per>>10)
	if per > most {
		t.Errorf("a new state allocates %d KiB, want at most %d KiB", per>>10, most>>10)
	}
}
