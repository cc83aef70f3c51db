-- counter counts its runs in a global: per state, never shared with other
-- checks.
count = (count or 0)
return function(args)
  count = count + 1
  return { status = "ok", message = tostring(count) }
end
