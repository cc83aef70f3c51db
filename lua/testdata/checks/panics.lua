-- panics calls a Go function that panics, caught by pcall if args.catch,
-- or a method of a Go userdata that panics if args.method.
local boom = require("testpanic")

return {
  description = "a Go module panics",
  run = function(args)
    if args.method then
      boom.object():boom()
    end
    if args.catch then
      local ok, err = pcall(boom.now)
      return { status = "ok", message = "caught: " .. tostring(err) }
    end
    boom.now()
    return { status = "ok", message = "not reached" }
  end,
}
