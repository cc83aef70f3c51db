local function run() return { status = "ok" } end
