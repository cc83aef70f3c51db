-- not a check: a Lua test file is skipped when the library loads.
function TestNothing(t) end
