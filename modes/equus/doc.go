// Package equus is the agent mode, "equus equus": it dials helen over mutual
// TLS, says hello, runs the checks helen sends (built-ins in Go, the rest in
// the Lua runtime, many at once) and answers each with exactly one result,
// in whatever order they finish.
//
// Run keeps one session at a time and reconnects with exponential backoff
// and full jitter after any failure. A reload from helen drains the running
// checks and then either returns ErrReload (under stage0, which then updates
// and restarts the agent) or reloads the check files in place.
//
// Beside the sessions, the agent renews its certificate at two thirds of
// its life (renew.go): a new key made here, the new certificate from
// helen's POST /v1/renew over mutual TLS with the current one, the pair
// replaced on disk, and the session drained like a reload and opened again
// with the new certificate, whose first use makes it the only one helen
// takes. An expired certificate, found at start or after a failed
// connection, ends Run with ErrCertExpired and how to enroll again.
package equus
