return {
  description = "never ends",
  run = function(args)
    while true do end
  end,
}
