// Package shell runs the agent's shell sessions: helen asks for one with
// the check equus.shell on the link, and the agent dials helen's agents'
// port again, with ALPN equus-shell/1 and the same client certificate, and
// carries the session's frames (package shellwire) on that second
// connection, so that TCP's flow control is the session's own and a
// flooding terminal never delays a check on the link.
//
// A session runs as a user of --shell-users, in its own process group
// (with a tty, its own session), with a clean environment, and is killed
// whole when it ends: its program exits, the connection breaks, it was
// idle too long, it lasted too long, or the agent stops.
package shell
