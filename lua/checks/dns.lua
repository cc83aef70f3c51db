-- dns: whether a name resolves, optionally to the addresses expected.
local check = require("check")
local net = require("net")

return {
  description = "name lookup, optionally checking the addresses",
  args = {
    name = {kind = "string!", description = "the name to look up"},
    expect = {kind = "list", description = "an address, or a list of addresses, that must all be among the answers"},
  },
  run = function(args)
    local addrs, err = net.lookup(args.name)
    if not addrs then
      return {status = check.CRITICAL, message = err}
    end
    local got = table.concat(addrs, ", ")
    local metrics = {{name = "addresses", value = #addrs, min = 0}}
    local expect = args.expect
    if type(expect) ~= "table" then
      expect = {expect}
    end
    for _, want in ipairs(expect or {}) do
      local found = false
      for _, a in ipairs(addrs) do
        found = found or a == tostring(want)
      end
      if not found then
        return {status = check.CRITICAL, metrics = metrics,
          message = string.format("%s is %s, not %s", args.name, got, want)}
      end
    end
    return {status = check.OK, message = args.name .. " is " .. got, metrics = metrics}
  end,
}
