-- tcp: whether a TCP port accepts connections, and how fast.
local check = require("check")
local net = require("net")

return {
  description = "TCP connection to a host and port, with its latency",
  args = {
    host = {kind = "string", description = "the host name or address, with port"},
    port = {kind = "number", description = "the port number"},
    address = {kind = "string", description = "or host and port at once, host:port ([::1]:22 for IPv6)"},
    warn = {kind = "threshold", description = "warning threshold (Nagios range) for the connect time in ms"},
    crit = {kind = "threshold", description = "critical threshold for the connect time in ms"},
    timeout_ms = {kind = "number", default = 5000, description = "how long connecting may take, in milliseconds"},
  },
  run = function(args)
    local address = args.address
    if not address then
      if not args.host or not args.port then
        error("tcp: give address, or host and port", 0)
      end
      local host = tostring(args.host)
      if string.find(host, ":", 1, true) and string.sub(host, 1, 1) ~= "[" then
        host = "[" .. host .. "]"
      end
      address = host .. ":" .. tostring(args.port)
    end
    local res, err = net.tcp_connect(address, args.timeout_ms)
    if not res then
      return {status = check.CRITICAL, message = err}
    end
    return {
      status = check.evaluate(res.latency_ms, args.warn, args.crit),
      message = string.format("connected to %s in %.1f ms", address, res.latency_ms),
      metrics = {{name = "time", value = check.round(res.latency_ms, 3), unit = "ms", min = 0,
        warn = args.warn, crit = args.crit}},
    }
  end,
}
