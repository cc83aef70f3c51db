-- spy looks for counter's global.
return function(args)
  return { status = "ok", message = tostring(rawget(_G, "count")) .. " " .. tostring(count) }
end
