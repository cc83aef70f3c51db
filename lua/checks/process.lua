-- process: how many processes match a name or a pattern.
--
-- args:
--   name     the exact process name ("nginx")
--   pattern  a Lua pattern searched in the command line (or the name, for
--            a process without one); give name or pattern, or both
--   user     count only the processes of this user
--   warn     threshold (Nagios range) for the count; none by default
--   crit     likewise; default "1:" (critical when none runs)
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
  run = function(args)
    args = check.args(args, {name = "string", pattern = "pattern", user = "string",
      warn = "threshold", crit = "threshold"})
    if not args.name and not args.pattern then
      error("process: give name or pattern", 0)
    end
    local warn, crit = args.warn, args.crit or "1:"
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
