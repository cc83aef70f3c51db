-- panics calls a Go function that panics, caught by pcall if args.catch.
local boom = require("testpanic")

return {
  description = "a Go module panics",
  run = function(args)
    if args.catch then
      local ok, err = pcall(boom.now)
      return { status = "ok", message = "caught: " .. tostring(err) }
    end
    boom.now()
    return { status = "ok", message = "not reached" }
  end,
}
