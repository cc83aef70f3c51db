-- load: the load averages over 1, 5 and 15 minutes.
local check = require("check")
local host = require("host")


return {
  description = "load averages (1, 5, 15 min) against thresholds per CPU",
  args = {
    warn = {kind = "threshold", default = "2",
      description = "warning threshold (Nagios range) for each load average divided by the number of CPUs"},
    crit = {kind = "threshold", default = "4", description = "critical threshold, likewise"},
    per_cpu = {kind = "boolean", default = true, description = "false compares the load averages themselves"},
  },
  run = function(args)
    local warn, crit = args.warn, args.crit
    local avg, err = host.load()
    if not avg then
      return {status = check.UNKNOWN, message = err}
    end
    local cpus = 1
    if args.per_cpu ~= false then
      cpus = host.cpu_count() or 1
    end
    -- The thresholds are per CPU; the metrics carry them for all CPUs.
    local mwarn, mcrit = check.range(warn):scale(cpus), check.range(crit):scale(cpus)
    local status, metrics = check.OK, {}
    for _, name in ipairs({"load1", "load5", "load15"}) do
      local v = avg[name]
      status = check.worst(status, check.evaluate(v / cpus, warn, crit))
      metrics[#metrics + 1] = {name = name, value = v, min = 0, warn = mwarn, crit = mcrit}
    end
    local message = string.format("load %.2f, %.2f, %.2f", avg.load1, avg.load5, avg.load15)
    if args.per_cpu ~= false then
      message = message .. string.format(" on %d CPUs", cpus)
    end
    return {status = status, message = message, metrics = metrics}
  end,
}
