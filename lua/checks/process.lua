-- process: how many processes match a name or a pattern.
--
-- The agent's own process is never counted: as `equus check process ...`
-- its command line holds the pattern.
local check = require("check")
local host = require("host")

-- matches reports whether process p is one the args ask for.
local function matches(p, args)
  if p.self then
    return false
  end
  if args.name and p.name ~= args.name then
    return false
  end
  if args.user and p.username ~= args.user then
    return false
  end
  if args.pattern then
    local text = p.cmdline ~= "" and p.cmdline or p.name
    return string.find(text, args.pattern) ~= nil
  end
  return true
end

return {
  description = "number of processes matching a name or a pattern",
  args = {
    name = {kind = "string", description = "the exact process name (nginx); give name or pattern, or both"},
    pattern = {kind = "pattern",
      description = "a Lua pattern searched in the command line (or the name, for a process without one)"},
    user = {kind = "string", description = "count only the processes of this user"},
    warn = {kind = "threshold", description = "warning threshold (Nagios range) for the count; none by default"},
    crit = {kind = "threshold", default = "1:", description = "critical threshold for the count (1: is critical when none runs)"},
  },
  run = function(args)
    if not args.name and not args.pattern then
      error("process: give name or pattern", 0)
    end
    local warn, crit = args.warn, args.crit
    local procs, err = host.processes()
    if not procs then
      return {status = check.UNKNOWN, message = err}
    end
    local count = 0
    for _, p in ipairs(procs) do
      if matches(p, args) then
        count = count + 1
      end
    end
    local what = args.name and ("named " .. args.name) or ("matching " .. args.pattern)
    if args.name and args.pattern then
      what = what .. " and " .. args.pattern
    end
    return {
      status = check.evaluate(count, warn, crit),
      message = string.format("%d process%s %s", count, count == 1 and "" or "es", what),
      metrics = {{name = "procs", value = count, min = 0,
        warn = warn, crit = crit}},
    }
  end,
}
