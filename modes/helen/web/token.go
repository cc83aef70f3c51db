package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/equus-monitoring/equus/modes/helen/reply"
)

// Authorized reports whether r carries the admin token as a bearer token.
// Both sides are hashed first, so that the comparison takes the same time
// whatever the length of what was sent.
func Authorized(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && IsToken(got, token)
}

// IsToken reports whether got, trimmed, is the admin token, comparing
// hashes in constant time.
func IsToken(got, token string) bool {
	if token == "" {
		return false
	}
	a := sha256.Sum256([]byte(strings.TrimSpace(got)))
	b := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// RequireToken serves h to requests that carry the admin token and
// answers the others 401 with a JSON error and nothing else.
func RequireToken(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Authorized(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="helen"`)
			reply.Error(w, http.StatusUnauthorized, "unauthorized: send the admin token as Authorization: Bearer <token>")
			return
		}
		h.ServeHTTP(w, r)
	})
}
