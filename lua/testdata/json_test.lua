-- Tests of the json module and the sandbox, run by runtime_lua_test.go.
local json = require("json")

function TestDecodeNull(t)
  local v = assert(json.decode('{"a":null,"b":[1,null,3],"c":"x"}'))
  if v.a ~= nil then t:error("a null member should be absent, got", v.a) end
  if #v.b ~= 3 then t:error("a null element should keep its place: #b =", #v.b) end
  if v.b[2] ~= json.null then t:error("b[2] should be json.null, got", v.b[2]) end
  if v.c ~= "x" then t:error("c =", v.c) end
end

function TestDecodeValues(t)
  local v = assert(json.decode('[true,false,1.5,-2e3,"\\u00e9\\n",{},[]]'))
  local want = { true, false, 1.5, -2000, "é\n" }
  for i, w in ipairs(want) do
    if v[i] ~= w then t:error("element", i, "=", v[i], "want", w) end
  end
  if type(v[6]) ~= "table" or type(v[7]) ~= "table" then t:error("{} and [] should be tables") end
  if json.decode("null") ~= json.null then t:error("null alone should be json.null") end
end

function TestDecodeErrors(t)
  for _, bad in ipairs({ "{", "", "[1,]", "{'a':1}", "1 2", "nul" }) do
    local v, err = json.decode(bad)
    if v ~= nil or type(err) ~= "string" or not err:find("json.decode", 1, true) then
      t:error("decode", bad, "gave", v, err)
    end
  end
end

function TestEncode(t)
  local cases = {
    { {}, "{}" },
    { { 1, 2, 3 }, "[1,2,3]" },
    { { b = 1, a = { true, json.null } }, '{"a":[true,null],"b":1}' },
    { { [1] = "x", [3] = "z" }, '{"1":"x","3":"z"}' },
    { { 1, 2, n = 3 }, '{"1":1,"2":2,"n":3}' },
    { "q\"b\\s\n\t\1", '"q\\"b\\\\s\\n\\t\\u0001"' },
    { "é€", '"é€"' },
    { 0.1, "0.1" },
    { 1e21, "1e+21" },
    { -0.000001, "-0.000001" },
    { 123456789, "123456789" },
    { nil, "null" },
    { json.null, "null" },
    { false, "false" },
  }
  for i, c in ipairs(cases) do
    local got, err = json.encode(c[1])
    if got ~= c[2] then t:error("case", i, "encode gave", got, err, "want", c[2]) end
  end
end

function TestEncodeErrors(t)
  local loop = {}
  loop.self = loop
  local cases = {
    { function() end, "function" },
    { 0 / 0, "nan" },
    { 1 / 0, "inf" },
    { loop, "nested too deep" },
    { { [true] = 1 }, "key that is a boolean" },
    { { f = print }, "function" },
  }
  for i, c in ipairs(cases) do
    local got, err = json.encode(c[1])
    if got ~= nil or not tostring(err):lower():find(c[2], 1, true) then
      t:error("case", i, "gave", got, err, "want an error with", c[2])
    end
  end
end

function TestRoundTrip(t)
  for _, s in ipairs({ '{"a":[1,2,{"b":null}],"c":"d"}', '[[],{},"",0]', '{"x":-1.25}' }) do
    local again = assert(json.encode(assert(json.decode(s))))
    local want = s:gsub(',?"b":null', ""):gsub("%[%]", "{}")
    if again ~= want then t:error(s, "->", again, "want", want) end
  end
end

function TestSandbox(t)
  for _, name in ipairs({ "io", "load", "loadstring", "dofile", "loadfile", "package", "module", "setfenv", "debug" }) do
    if _G[name] ~= nil then t:error(name, "is reachable") end
  end
  if os.execute ~= nil or os.getenv ~= nil then t:error("os has more than time, clock and date") end
  if type(os.time()) ~= "number" or type(os.date("%Y")) ~= "string" or type(os.clock()) ~= "number" then
    t:error("the time functions of os are missing")
  end
end

function TestCheckRun(t)
  local r = check_run("echo", { x = 1 })
  if r.status ~= "ok" or r.message ~= '{"x":1}' then t:error("echo:", r.status, r.message) end
  r = check_run("bare", { n = 2 })
  if r.status ~= "warning" or #r.metrics ~= 2 or r.metrics[1].warn ~= 1 then t:error("bare:", r.status, #r.metrics) end
  r = check_run("fails")
  if r.status ~= "unknown" or not r.message:find("disk on fire", 1, true) then t:error("fails:", r.message) end
end

function TestSkip(t)
  t:skip("t:skip works")
  error("not reached")
end
