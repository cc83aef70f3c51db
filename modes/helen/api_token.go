package helen

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// adminTokenFile holds the operators' admin token in the data directory.
const adminTokenFile = "admin-token"

// loadOrCreateAdminToken reads the admin token, making one (0600) when
// there is none, and reports whether it did.
func loadOrCreateAdminToken(dir string) (token string, created bool, err error) {
	path := filepath.Join(dir, adminTokenFile)
	data, err := os.ReadFile(path)
	if err == nil {
		token = strings.TrimSpace(string(data))
		if len(token) < 16 {
			return "", false, fmt.Errorf("admin token %s: too short; remove it to make a new one", path)
		}
		return token, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	token = "eqa_" + rand.Text()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	return token, true, nil
}

// authorized reports whether r carries the admin token as a bearer token.
// Both sides are hashed first, so that the comparison takes the same time
// whatever the length of what was sent.
func authorized(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && isToken(got, token)
}

// isToken reports whether got, trimmed, is the admin token, comparing
// hashes in constant time.
func isToken(got, token string) bool {
	if token == "" {
		return false
	}
	a := sha256.Sum256([]byte(strings.TrimSpace(got)))
	b := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// requireToken serves h to requests that carry the admin token and
// answers the others 401 with a JSON error and nothing else.
func requireToken(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="helen"`)
			httpError(w, http.StatusUnauthorized, "unauthorized: send the admin token as Authorization: Bearer <token>")
			return
		}
		h.ServeHTTP(w, r)
	})
}
