-- require tries to require args.name and reports the error, or the sorted
-- keys of what it loaded.
return function(args)
  local ok, mod = pcall(require, args.name)
  if not ok then
    return { status = "ok", message = tostring(mod) }
  end
  local keys = {}
  if type(mod) == "table" then
    for k in pairs(mod) do table.insert(keys, tostring(k)) end
  end
  table.sort(keys)
  return { status = "warning", message = "loaded " .. args.name .. ": " .. table.concat(keys, ",") }
end
