local log = require("log")
return function(args)
  log.info("hello", 42, true)
  log.warn("careful")
  print("printed")
  return { status = "ok", message = "logged" }
end
