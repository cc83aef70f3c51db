-- badreturn returns whatever args.kind asks for, all of them wrong.
local bad = {
  string = function() return "ok" end,
  nothing = function() return nil end,
  status = function() return { status = "fine" } end,
  code = function() return { status = 7 } end,
  nostatus = function() return { message = "m" } end,
  message = function() return { status = "ok", message = {} } end,
  metrics = function() return { status = "ok", metrics = "lots" } end,
  metricname = function() return { status = "ok", metrics = { { value = 1 } } } end,
  metricvalue = function() return { status = "ok", metrics = { { name = "x", value = "1" } } } end,
  nan = function() return { status = "ok", metrics = { { name = "x", value = 0 / 0 } } } end,
  warn = function() return { status = "ok", metrics = { { name = "x", value = 1, warn = "high" } } } end,
}

return {
  description = "returns a bad value",
  run = function(args) return bad[args.kind]() end,
}
