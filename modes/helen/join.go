package helen

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"github.com/equus-monitoring/equus/pki"
)

// Advertised returns the address agents reach helen at: the configured
// one, else the host name with the port of the agents' listener.
func (s *Server) Advertised(ln net.Addr) string {
	if s.cfg.Advertise != "" {
		return s.cfg.Advertise
	}
	port := "7480"
	if ta, ok := ln.(*net.TCPAddr); ok {
		port = fmt.Sprint(ta.Port)
		if !ta.IP.IsUnspecified() {
			return net.JoinHostPort(ta.IP.String(), port)
		}
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// pubkeyPin is curl's --pinnedpubkey value for helen's server key.
func (s *Server) pubkeyPin() string {
	leaf := s.cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(s.cert.Certificate[0]); err != nil {
			return ""
		}
	}
	return pki.PublicKeyPin(leaf)
}

// joinFormat is the shape of the join command: sh -c downloads the whole
// script first and runs it only if curl succeeded, so that a wrong pin, an
// unreachable helen or a cut download makes the command fail (a plain
// "curl | sh" exits with the status of sh, 0 on empty input); the
// script's options follow as sh's arguments, so an operator can add more
// (--name) at the end; and it is one POSIX command whatever shell it is
// pasted into. Its values: the pin, helen's address, then the options.
const joinFormat = `sh -c 'b=$(curl -fsS --insecure --pinnedpubkey "%s" https://%s/bootstrap.sh) && printf "%%s\n" "$b" | sh -s -- "$@"' bootstrap %s`

// JoinCommand returns the one-line command that installs and enrolls an
// agent on a machine with token, through helen's bootstrap script, and
// hands it helen's update key when there is one.
func (s *Server) JoinCommand(token string) string {
	addr := s.advertised
	if addr == "" {
		addr = s.Advertised(nil)
	}
	pin := s.pubkeyPin()
	join := fmt.Sprintf(joinFormat, pin, addr,
		fmt.Sprintf("--helen %s --ca-pin %s --pubkey-pin '%s' --token %s", addr, s.ca.Pin(), pin, token))
	if s.cfg.UpdateKey != nil {
		// The agent then takes only binaries and check bundles signed by
		// the key, starting with the binary the script installs.
		join += fmt.Sprintf(" --update-key '%s'", s.cfg.UpdateKey.String())
	}
	return join
}
