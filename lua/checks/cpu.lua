-- cpu: how busy the CPUs are, measured over a short interval.
local check = require("check")
local host = require("host")

return {
  description = "percentage of CPU time busy over a short interval",
  args = {
    interval_ms = {kind = "number", default = 500, description = "how long to measure, in milliseconds"},
    warn = {kind = "threshold", default = "90", description = "warning threshold (Nagios range) for the busy percentage"},
    crit = {kind = "threshold", default = "95", description = "critical threshold for the busy percentage"},
  },
  run = function(args)
    local warn, crit = args.warn, args.crit
    local busy, err = host.cpu_percent(args.interval_ms)
    if not busy then
      return {status = check.UNKNOWN, message = err}
    end
    return {
      status = check.evaluate(busy, warn, crit),
      message = string.format("cpu %.1f%% busy", busy),
      metrics = {{name = "cpu", value = check.round(busy, 2), unit = "%", min = 0, max = 100,
        warn = warn, crit = crit}},
    }
  end,
}
