package lua

import (
	"context"
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

// TestSortLongTable: table.sort of a long table gives gopher-lua's order,
// and stops when the run's context ends.
func TestSortLongTable(t *testing.T) {
	fill := func(L *glua.LState) *glua.LTable {
		tb := L.CreateTable(sortChecked*2, 0)
		for i := range sortChecked * 2 {
			tb.RawSetInt(i+1, glua.LNumber((i*7919)%100003))
		}
		return tb
	}
	gopher := glua.NewState()
	defer gopher.Close()
	want := fill(gopher)
	if err := gopher.CallByParam(glua.P{Fn: gopher.GetField(gopher.GetGlobal("table"), "sort"), Protect: true}, want); err != nil {
		t.Fatal(err)
	}
	L := glua.NewState()
	defer L.Close()
	limitLibraries(L)
	sortFn := L.GetField(L.GetGlobal("table"), "sort")
	got := fill(L)
	if err := L.CallByParam(glua.P{Fn: sortFn, Protect: true}, got); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= want.Len(); i++ {
		if w, g := want.RawGetInt(i), got.RawGetInt(i); w != g {
			t.Fatalf("[%d] = %v, want %v", i, g, w)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	L.SetContext(ctx)
	defer L.RemoveContext()
	unsorted := fill(L)
	first := unsorted.RawGetInt(1)
	err := L.CallByParam(glua.P{Fn: sortFn, Protect: true}, unsorted)
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("sort after the run ended: %v, want context canceled", err)
	}
	if unsorted.RawGetInt(1) != first {
		t.Errorf("a sort stopped half-way changed the table")
	}
}
