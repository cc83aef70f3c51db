package helen

import (
	"net/http"

	"github.com/equus-monitoring/equus/modes/helen/reply"
)

// httpError writes a JSON error (reply.Error).
func httpError(w http.ResponseWriter, code int, format string, a ...any) {
	reply.Error(w, code, format, a...)
}

// writeJSON writes a JSON answer (reply.JSON).
func writeJSON(w http.ResponseWriter, code int, v any) { reply.JSON(w, code, v) }
