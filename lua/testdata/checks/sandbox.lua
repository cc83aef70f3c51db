-- sandbox reports, for each name in args.names, whether it can be reached.
return {
  description = "probes the sandbox",
  run = function(args)
    local found = {}
    for _, expr in ipairs(args.names) do
      local ok, v = pcall(function()
        local cur = _G
        for part in string.gmatch(expr, "[^.]+") do
          cur = cur[part]
        end
        return cur
      end)
      if ok and v ~= nil then
        table.insert(found, expr)
      end
    end
    return { status = "ok", message = table.concat(found, ",") }
  end,
}
