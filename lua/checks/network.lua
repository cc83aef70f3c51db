-- network: the traffic counters of the network interfaces, as metrics
-- (counters that only grow: a grapher turns them into rates).
local check = require("check")
local host = require("host")

local counters = {"bytes_recv", "bytes_sent", "packets_recv", "packets_sent",
  "err_in", "err_out", "drop_in", "drop_out"}

return {
  description = "traffic counters of the network interfaces",
  args = {
    interface = {kind = "string",
      description = "only this interface, which must exist; by default every interface but the loopback (lo)"},
  },
  run = function(args)
    local list, err = host.net_counters()
    if not list then
      return {status = check.UNKNOWN, message = err}
    end
    local metrics, seen = {}, {}
    for _, nic in ipairs(list) do
      local wanted = nic.name == args.interface or (args.interface == nil and nic.name ~= "lo")
      if wanted then
        seen[#seen + 1] = string.format("%s rx %s tx %s", nic.name,
          check.bytes(nic.bytes_recv), check.bytes(nic.bytes_sent))
        for _, c in ipairs(counters) do
          metrics[#metrics + 1] = {name = nic.name .. "_" .. c, value = nic[c],
            unit = string.sub(c, 1, 5) == "bytes" and "B" or "c", min = 0}
        end
      end
    end
    if args.interface and #seen == 0 then
      return {status = check.UNKNOWN, message = "no interface " .. args.interface}
    end
    if #seen == 0 then
      return {status = check.OK, message = "no network interface"}
    end
    return {status = check.OK, message = table.concat(seen, "; "), metrics = metrics}
  end,
}
