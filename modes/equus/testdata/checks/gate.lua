-- Waits until the file args.gate exists, then answers args.tag: a check
-- whose end the test decides. It logs when it starts, so that a test
-- knows it holds a slot.
local fs = require("fs")
local host = require("host")
local log = require("log")

return {
  description = "waits for the file args.gate",
  run = function(args)
    log.info("waiting for the gate: " .. (args.tag or ""))
    while not fs.stat(args.gate).exists do
      host.cpu_percent(5)
    end
    return { status = "ok", message = args.tag or "gate open" }
  end,
}
