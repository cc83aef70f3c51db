-- loaderror fails while the library loads it.
local x = nil
return x.field
