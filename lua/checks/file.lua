-- file: whether a file exists, how old and how large it is.
local check = require("check")
local fs = require("fs")

return {
  description = "file existence, age and size",
  args = {
    path = {kind = "string!", description = "the file"},
    must_exist = {kind = "boolean", default = true,
      description = "false makes a missing file ok (the other tests apply to a file that exists)"},
    max_age = {kind = "number", description = "seconds: a file modified longer ago is critical"},
    min_size = {kind = "number", description = "bytes: a smaller file is critical"},
    max_size = {kind = "number", description = "bytes: a larger file is critical"},
  },
  run = function(args)
    local st, err = fs.stat(args.path)
    if not st then
      return {status = check.UNKNOWN, message = err}
    end
    if not st.exists then
      if args.must_exist == false then
        return {status = check.OK, message = args.path .. " does not exist"}
      end
      return {status = check.CRITICAL, message = args.path .. " does not exist"}
    end
    local age = math.max(0, math.floor(os.time() - st.mtime))
    local metrics = {
      {name = "age", value = age, unit = "s", min = 0, crit = args.max_age},
      {name = "size", value = st.size, unit = "B", min = 0},
    }
    local problems = {}
    if args.max_age and age > args.max_age then
      problems[#problems + 1] = string.format("older than %d s", args.max_age)
    end
    if args.min_size and st.size < args.min_size then
      problems[#problems + 1] = "smaller than " .. check.bytes(args.min_size)
    end
    if args.max_size and st.size > args.max_size then
      problems[#problems + 1] = "larger than " .. check.bytes(args.max_size)
    end
    local message = string.format("%s: %s, modified %d s ago", args.path, check.bytes(st.size), age)
    if #problems > 0 then
      return {status = check.CRITICAL, metrics = metrics,
        message = message .. ": " .. table.concat(problems, ", ")}
    end
    return {status = check.OK, message = message, metrics = metrics}
  end,
}
