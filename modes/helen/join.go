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

// JoinCommand returns the one-line command that installs and enrolls an
// agent on a machine with token, through helen's bootstrap script, and
// hands it helen's update key when there is one.
func (s *Server) JoinCommand(token string) string {
	addr := s.advertised
	if addr == "" {
		addr = s.Advertised(nil)
	}
	pin := s.pubkeyPin()
	join := fmt.Sprintf("curl -fsS --insecure --pinnedpubkey '%s' https://%s/bootstrap.sh | sh -s -- --helen %s --ca-pin %s --pubkey-pin '%s' --token %s",
		pin, addr, addr, s.ca.Pin(), pin, token)
	if s.cfg.UpdateKey != nil {
		// The agent then takes only binaries and check bundles signed by
		// the key, starting with the binary the script installs.
		join += fmt.Sprintf(" --update-key '%s'", s.cfg.UpdateKey.String())
	}
	return join
}
