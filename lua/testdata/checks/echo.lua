-- echo returns its args, encoded, as the message: the table form.
local json = require("json")

return {
  description = "returns its args as JSON",
  run = function(args)
    local status = args.status or "ok"
    return { status = status, message = assert(json.encode(args)) }
  end,
}
