-- uptime: how long the machine has been up.
local check = require("check")
local host = require("host")

-- since writes a number of seconds as "3 days, 04:05".
local function since(s)
  local days = math.floor(s / 86400)
  local clock = string.format("%02d:%02d", math.floor(s % 86400 / 3600), math.floor(s % 3600 / 60))
  if days == 1 then
    return "1 day, " .. clock
  elseif days > 1 then
    return days .. " days, " .. clock
  end
  return clock
end

return {
  description = "time since boot, with a warning after a recent reboot",
  args = {
    min = {kind = "number",
      description = "seconds: an uptime below it (a recent reboot) is a warning; by default any uptime is ok"},
  },
  run = function(args)
    local up, err = host.uptime()
    if not up then
      return {status = check.UNKNOWN, message = err}
    end
    local status = check.OK
    local message = "up " .. since(up)
    if args.min and up < args.min then
      status = check.WARNING
      message = message .. string.format(" (less than %d s: rebooted?)", args.min)
    end
    return {status = status, message = message,
      metrics = {{name = "uptime", value = math.floor(up), unit = "s", min = 0}}}
  end,
}
