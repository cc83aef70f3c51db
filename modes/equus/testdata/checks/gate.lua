-- Waits until the file args.gate exists, then answers args.tag: a check
-- whose end the test decides.
local fs = require("fs")
local host = require("host")

return {
  description = "waits for the file args.gate",
  run = function(args)
    while not fs.stat(args.gate).exists do
      host.cpu_percent(5)
    end
    return { status = "ok", message = args.tag or "gate open" }
  end,
}
