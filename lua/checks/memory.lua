-- memory: the share of memory in use (total less what is available).
local check = require("check")
local host = require("host")

return {
  description = "percentage of memory used",
  args = {
    warn = {kind = "threshold", default = "90", description = "warning threshold (Nagios range) for the used percentage"},
    crit = {kind = "threshold", default = "95", description = "critical threshold for the used percentage"},
  },
  run = function(args)
    local warn, crit = args.warn, args.crit
    local m, err = host.memory()
    if not m then
      return {status = check.UNKNOWN, message = err}
    end
    return {
      status = check.evaluate(m.used_percent, warn, crit),
      message = string.format("memory %.1f%% used (%s of %s)", m.used_percent,
        check.bytes(m.used), check.bytes(m.total)),
      metrics = {
        {name = "used_percent", value = check.round(m.used_percent, 2), unit = "%", min = 0, max = 100,
          warn = warn, crit = crit},
        {name = "used", value = m.used, unit = "B", min = 0, max = m.total},
        {name = "available", value = m.available, unit = "B", min = 0, max = m.total},
      },
    }
  end,
}
