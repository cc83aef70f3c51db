// Package equus is the agent mode, "equus equus": it dials helen over mutual
// TLS, says hello, runs the checks helen sends (built-ins in Go, the rest in
// the Lua runtime, many at once) and answers each with exactly one result,
// in whatever order they finish.
//
// Run keeps one session at a time and reconnects with exponential backoff
// and full jitter after any failure. A reload from helen drains the running
// checks and then either returns ErrReload (under stage0, which then updates
// and restarts the agent) or reloads the check files in place.
package equus
