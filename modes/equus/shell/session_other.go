//go:build !unix

package shell

import (
	"log/slog"
	"net"
	"time"

	"github.com/equus-monitoring/equus/internal/shellwire"
)

type session struct {
	m    *Manager
	req  shellwire.Request
	acct account
	conn net.Conn
	log  *slog.Logger
	idle time.Duration
	max  time.Duration
}

func (s *session) run() shellwire.ExitMsg {
	defer s.conn.Close()
	e := shellwire.ExitMsg{Status: -1, Error: "shell sessions need a unix agent"}
	_ = shellwire.Write(s.conn, shellwire.Exit(e))
	return e
}
