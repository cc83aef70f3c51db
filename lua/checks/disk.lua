-- disk: the space (and optionally inodes) used on one file system.
local check = require("check")
local host = require("host")

return {
  description = "percentage of disk space used on a file system",
  args = {
    path = {kind = "string", default = "/", description = "a path on the file system"},
    warn = {kind = "threshold", default = "80", description = "warning threshold (Nagios range) for the used percentage"},
    crit = {kind = "threshold", default = "90", description = "critical threshold for the used percentage"},
    inode_warn = {kind = "threshold", description = "warning threshold for the percentage of inodes used; none by default"},
    inode_crit = {kind = "threshold", description = "critical threshold for the percentage of inodes used; none by default"},
  },
  run = function(args)
    local path = args.path
    local warn, crit = args.warn, args.crit
    local u, err = host.disk_usage(path)
    if not u then
      return {status = check.UNKNOWN, message = err}
    end
    local status = check.evaluate(u.used_percent, warn, crit)
    local metrics = {
      {name = "used_percent", value = check.round(u.used_percent, 2), unit = "%", min = 0, max = 100,
        warn = warn, crit = crit},
      {name = "used", value = u.used, unit = "B", min = 0, max = u.total},
      {name = "free", value = u.free, unit = "B", min = 0, max = u.total},
    }
    local message = string.format("%s %.1f%% used (%s of %s)", path, u.used_percent,
      check.bytes(u.used), check.bytes(u.total))
    if u.inodes_total > 0 then
      if args.inode_warn or args.inode_crit then
        status = check.worst(status,
          check.evaluate(u.inodes_used_percent, args.inode_warn, args.inode_crit))
        message = message .. string.format(", inodes %.1f%% used", u.inodes_used_percent)
      end
      metrics[#metrics + 1] = {name = "inodes_used_percent",
        value = check.round(u.inodes_used_percent, 2),
        unit = "%", min = 0, max = 100,
        warn = args.inode_warn,
        crit = args.inode_crit}
    end
    return {status = status, message = message, metrics = metrics}
  end,
}
