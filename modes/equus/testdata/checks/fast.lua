return {
  description = "answers at once",
  run = function(args)
    return { status = "ok", message = args.tag or "fast" }
  end,
}
