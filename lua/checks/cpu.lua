-- cpu: how busy the CPUs are, measured over a short interval.
--
-- args:
--   interval_ms  how long to measure; default 500
--   warn         threshold (Nagios range) for the busy percentage; default "90"
--   crit         likewise; default "95"
local check = require("check")
local host = require("host")

return {
  description = "percentage of CPU time busy over a short interval",
  run = function(args)
    args = check.args(args, {interval_ms = "number", warn = "threshold", crit = "threshold"})
    local warn, crit = args.warn or "90", args.crit or "95"
    local busy, err = host.cpu_percent(args.interval_ms or 500)
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
