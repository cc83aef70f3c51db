-- bare is the function form, with metrics and a numeric status.
return function(args)
  return {
    status = 1,
    message = "bare " .. tostring(args.n or 0),
    metrics = {
      { name = "n", value = args.n or 0, unit = "s", warn = 1, crit = 2, min = 0 },
      { name = "two", value = 2 },
    },
  }
end
