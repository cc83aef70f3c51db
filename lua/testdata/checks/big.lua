-- big returns a message larger than the wire allows.
return function(args)
  return { status = "warning", message = string.rep("x", 2 * 1024 * 1024) }
end
