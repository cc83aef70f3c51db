-- swap: the share of swap space in use; a machine without swap is ok.
local check = require("check")
local host = require("host")

return {
  description = "percentage of swap space used",
  args = {
    warn = {kind = "threshold", default = "50", description = "warning threshold (Nagios range) for the used percentage"},
    crit = {kind = "threshold", default = "80", description = "critical threshold for the used percentage"},
  },
  run = function(args)
    local warn, crit = args.warn, args.crit
    local s, err = host.swap()
    if not s then
      return {status = check.UNKNOWN, message = err}
    end
    if s.total == 0 then
      return {status = check.OK, message = "no swap"}
    end
    return {
      status = check.evaluate(s.used_percent, warn, crit),
      message = string.format("swap %.1f%% used (%s of %s)", s.used_percent,
        check.bytes(s.used), check.bytes(s.total)),
      metrics = {
        {name = "used_percent", value = check.round(s.used_percent, 2), unit = "%", min = 0, max = 100,
          warn = warn, crit = crit},
        {name = "used", value = s.used, unit = "B", min = 0, max = s.total},
      },
    }
  end,
}
