-- sleeps busy-waits for args.ms milliseconds, then says ok.
return function(args)
  local stop = os.clock() + args.ms / 1000
  while os.clock() < stop do end
  return { status = "ok", message = "slept" }
end
