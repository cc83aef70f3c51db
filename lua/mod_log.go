package lua

import (
	"log/slog"

	glua "github.com/yuin/gopher-lua"
)

func init() { register("log", openLog) }

// openLog opens the log module: log.debug, log.info, log.warn and
// log.error(...) send their arguments, joined by spaces as print does, to
// the runtime's log with the name of the running check. (print itself logs
// at debug level.)
func openLog(env *Env) glua.LGFunction {
	level := func(l slog.Level) glua.LGFunction {
		return func(L *glua.LState) int {
			logArgs(L, env, l)
			return 0
		}
	}
	api := map[string]glua.LGFunction{
		"debug": level(slog.LevelDebug),
		"info":  level(slog.LevelInfo),
		"warn":  level(slog.LevelWarn),
		"error": level(slog.LevelError),
	}
	return func(L *glua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), api))
		return 1
	}
}
