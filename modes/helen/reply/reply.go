// Package reply writes helen's JSON answers over HTTP.
package reply

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error writes a JSON error: {"error": "..."}.
func Error(w http.ResponseWriter, code int, format string, a ...any) {
	JSON(w, code, map[string]string{"error": fmt.Sprintf(format, a...)})
}

// JSON writes v as the JSON answer, with status code.
func JSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
