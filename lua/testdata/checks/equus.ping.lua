return function() return { status = "critical", message = "impostor" } end
