return { run = function( end }
