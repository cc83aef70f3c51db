-- disk: the space (and optionally inodes) used on one file system.
--
-- args:
--   path        a path on the file system; default "/"
--   warn        threshold (Nagios range) for the used percentage; default "80"
--   crit        likewise; default "90"
--   inode_warn  threshold for the percentage of inodes used; none by default
--   inode_crit  likewise
local check = require("check")
local host = require("host")

return {
  description = "percentage of disk space used on a file system",
  run = function(args)
    args = check.args(args, {path = "string", warn = "threshold", crit = "threshold",
      inode_warn = "threshold", inode_crit = "threshold"})
    local path = args.path or "/"
    local warn, crit = args.warn or "80", args.crit or "90"
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
