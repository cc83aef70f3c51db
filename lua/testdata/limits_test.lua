-- Tests that the size-checked string.rep, string.format, string.gsub and
-- table.concat of the sandbox (limits.go, patternlib.go), and its
-- table.sort, behave as gopher-lua's own below the limit.

local function eq(t, what, got, want)
  if got ~= want then t:error(what, "=", got, "want", want) end
end

function TestRep(t)
  eq(t, "rep", string.rep("ab", 3), "ababab")
  eq(t, "rep 0", string.rep("ab", 0), "")
  eq(t, "rep negative", string.rep("ab", -1), "")
  eq(t, "method", ("x"):rep(2), "xx")
end

function TestGsub(t)
  local s, n = string.gsub("hello world", "o", "0")
  eq(t, "string", s, "hell0 w0rld")
  eq(t, "count", n, 2)
  eq(t, "captures", (string.gsub("a=1, b=2", "(%w+)=(%w+)", "%2=%1")), "1=a, 2=b")
  eq(t, "limit", (string.gsub("aaa", "a", "b", 2)), "bba")
  eq(t, "table", (string.gsub("$x and $y", "%$(%w+)", {x = "1", y = 2})), "1 and 2")
  eq(t, "table miss", (string.gsub("$x and $z", "%$(%w+)", {x = "1"})), "1 and $z")
  eq(t, "position capture", (string.gsub("abc", "()b", {[2] = "B"})), "aBc")
  eq(t, "function", (string.gsub("a b", "%w", function(c) return c:upper() end)), "A B")
  eq(t, "function captures", (string.gsub("k=v", "(%w)=(%w)", function(k, v) return v .. k end)), "vk")
  eq(t, "function false", (string.gsub("ab", "%w", function(c) return c == "a" and "A" or false end)), "Ab")
  local ok, err = pcall(string.gsub, "x", "x", function() error("inner") end)
  if ok or not tostring(err):find("inner", 1, true) then t:error("an error in repl:", ok, err) end
end

function TestConcat(t)
  eq(t, "concat", table.concat({1, "b", 3}, ","), "1,b,3")
  eq(t, "range", table.concat({"a", "b", "c", "d"}, "", 2, 3), "bc")
  eq(t, "empty", table.concat({}), "")
  local ok = pcall(table.concat, {{}})
  if ok then t:error("a table element should be an error") end
end

function TestFormat(t)
  eq(t, "format", string.format("%5.1f|%s|%d|%-3s|", 3.14159, "x", 42, "y"), "  3.1|x|42|y  |")
  eq(t, "percent", string.format("100%%"), "100%")
  eq(t, "method", ("%d-%d"):format(1, 2), "1-2")
end

function TestSort(t)
  local s = {3, 1, 2}
  table.sort(s)
  eq(t, "short", table.concat(s, ","), "1,2,3")
  local long = {}
  for i = 1, 70000 do long[i] = (i * 7919) % 70001 end
  table.sort(long)
  local sorted = true
  for i = 2, #long do sorted = sorted and long[i - 1] <= long[i] end
  eq(t, "long", sorted, true)
  table.sort(long, function(a, b) return a > b end)
  eq(t, "long with a function", long[1] > long[#long], true)
  local ok = pcall(table.sort, {1, "x"})
  eq(t, "mixed types", ok, false)
end
