-- http: an HTTP or HTTPS request, its status, body and latency. TLS
-- certificates are always verified.
local check = require("check")
local http = require("http")

-- statusWanted reports whether code is the status args.expect asks for.
local function statusWanted(code, expect)
  if expect == nil then
    return code >= 200 and code < 400
  end
  if type(expect) ~= "table" then
    expect = {expect}
  end
  for _, e in ipairs(expect) do
    if code == tonumber(e) then
      return true
    end
  end
  return false
end

-- bodyProblem returns what is wrong with the body, or nil.
local function bodyProblem(body, args)
  if args.contains and not string.find(body, args.contains, 1, true) then
    return string.format("body does not contain %q", args.contains)
  end
  if args.match and not string.find(body, args.match) then
    return string.format("body does not match %q", args.match)
  end
  return nil
end

return {
  description = "HTTP(S) request: status, body content and latency",
  args = {
    url = {kind = "string!", description = "the URL, http:// or https://"},
    expect = {kind = "list",
      description = "the status code wanted, or a list of them (not the body: see match and contains); by default any from 200 to 399"},
    match = {kind = "pattern", description = "a Lua pattern the body must contain"},
    contains = {kind = "string", description = "a plain text the body must contain"},
    warn = {kind = "threshold", description = "warning threshold (Nagios range) for the latency in ms"},
    crit = {kind = "threshold", description = "critical threshold for the latency in ms"},
    body = {kind = "string", description = "if given, the request is a POST of this body"},
    headers = {kind = "table", description = "request headers, a table of name = value"},
    timeout_ms = {kind = "number", default = 10000, description = "how long the request may take, in milliseconds"},
    ca_file = {kind = "string", description = "a PEM file of the CAs to trust instead of the system's"},
    max_body = {kind = "number", default = 1048576, description = "the bytes of the body read, at most 64 MiB"},
    follow_redirects = {kind = "boolean", default = true, description = "follow redirects"},
  },
  run = function(args)
    local opts = {timeout_ms = args.timeout_ms, headers = args.headers, ca_file = args.ca_file,
      max_body = args.max_body, follow_redirects = args.follow_redirects}
    local res, err
    if args.body then
      res, err = http.post(args.url, args.body, opts)
    else
      res, err = http.get(args.url, opts)
    end
    if not res then
      return {status = check.CRITICAL, message = err}
    end
    local metrics = {
      {name = "time", value = check.round(res.latency_ms, 3), unit = "ms", min = 0,
        warn = args.warn, crit = args.crit},
      {name = "size", value = #res.body, unit = "B", min = 0},
    }
    local message = string.format("HTTP %d in %.0f ms, %s", res.status, res.latency_ms,
      check.bytes(#res.body))
    if not statusWanted(res.status, args.expect) then
      local want = "200 to 399"
      if args.expect ~= nil then
        want = type(args.expect) == "table" and table.concat(args.expect, " or ") or tostring(args.expect)
      end
      return {status = check.CRITICAL, metrics = metrics,
        message = message .. " (unexpected status, want " .. want .. ")"}
    end
    local problem = bodyProblem(res.body, args)
    if problem then
      return {status = check.CRITICAL, message = message .. ": " .. problem, metrics = metrics}
    end
    return {status = check.evaluate(res.latency_ms, args.warn, args.crit),
      message = message, metrics = metrics}
  end,
}
