-- nagios: runs a Nagios/Monitoring Plugins program from the allowed
-- plugin directories and maps its answer to a result. What may run is the
-- agent's policy, enforced by the exec module (whatever this file says):
-- a refused plugin, such as negate, is an unknown result saying why.
--
-- The exit code 0, 1, 2 or 3 gives the status (any other, unknown), and
-- the output, read as the Monitoring Plugins guidelines define it
-- (check.plugin_output), the rest: the first line before "|" is the
-- message (without a leading "CRITICAL:" or the like that repeats the
-- status), the lines after it up to their first "|" the long output, and
-- the performance data after "|" on the first line and after that "|" the
-- metrics, their thresholds as written.
local check = require("check")
local exec = require("exec")

-- withoutStatus returns message without the status word it starts with,
-- as in "CRITICAL: down", since the result's status says it already.
local function withoutStatus(message, status)
  local prefix = string.upper(status) .. ":"
  if string.sub(message, 1, #prefix) == prefix then
    local rest = string.match(string.sub(message, #prefix + 1), "^%s*(.-)$")
    if rest ~= "" then
      return rest
    end
  end
  return message
end

return {
  description = "runs a Nagios plugin and maps its exit code, output and performance data",
  args = {
    plugin = {kind = "string!", description = "the program's file name, such as check_load (no path)"},
    args = {kind = "table", description = "its arguments, a list of strings"},
    timeout_ms = {kind = "number", default = 30000, description = "how long it may run, in milliseconds"},
  },
  run = function(args)
    local plugin = args.plugin
    if type(plugin) ~= "string" or not string.match(plugin, "^[%w_][%w_.+-]*$") then
      error("nagios: plugin must be a plain file name, such as check_load", 0)
    end
    local res, err = exec.run(plugin, args.args or {}, {timeout_ms = args.timeout_ms})
    if not res then
      return {status = check.UNKNOWN, message = err}
    end
    local out = res.stdout
    if string.match(out, "^%s*$") then
      out = res.stderr
    end
    local output = check.plugin_output(out)
    local message = output.message
    if message == "" then
      message = string.format("%s exited with code %d and no output", plugin, res.exit_code)
    end
    local status = check.status(res.exit_code)
    return {
      status = status,
      message = withoutStatus(message, status),
      long_output = output.long_output,
      metrics = output.metrics,
    }
  end,
}
