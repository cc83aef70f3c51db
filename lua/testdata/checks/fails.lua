return {
  description = "raises an error",
  run = function(args)
    error("disk on fire")
  end,
}
