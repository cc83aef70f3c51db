package equus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"

	"k8s.io/utils/clock"

	"github.com/equus-monitoring/equus/pki"
)

// Files in the agent's data directory.
const (
	certFile = "agent.pem"
	keyFile  = "agent-key.pem"
	caFile   = "ca.pem"
	// checksDir holds the check bundle that stage0 syncs from helen.
	checksDir = "checks"
)

// BundleDir returns where the check bundle synced from helen lives in the
// data directory dataDir: stage0 installs it there, and the agent loads it
// when no --checks is given.
func BundleDir(dataDir string) string { return filepath.Join(dataDir, checksDir) }

// enrolled reports whether dir holds an agent certificate and its key.
func enrolled(dir string) bool {
	return exists(filepath.Join(dir, certFile)) && exists(filepath.Join(dir, keyFile))
}

// KeyPairFiles returns the certificate and key files the agent presents:
// those given, else the enrolled ones in the data directory.
func (cfg Config) KeyPairFiles() (certPath, keyPath string) {
	if cfg.CertFile != "" {
		return cfg.CertFile, cfg.KeyFile
	}
	return filepath.Join(cfg.DataDir, certFile), filepath.Join(cfg.DataDir, keyFile)
}

// Trust returns how helen is recognised: the CA file given, else the one
// saved at enrollment, checked against the pin when there is one. It may
// need ResolveTrust before use.
func (cfg Config) Trust() pki.Trust {
	t := pki.Trust{CAFile: cfg.CAFile, Pin: cfg.CAPin}
	if t.CAFile == "" {
		if saved := filepath.Join(cfg.DataDir, caFile); exists(saved) {
			t.CAFile = saved
		}
	}
	return t
}

// ResolveTrust returns t with helen's CA known, fetching it by the pin when
// no CA file holds it, from the helen at addr whose certificate names
// serverName (empty: addr's host). A saved CA file that no longer matches the pin (helen
// has a new CA) gives way to the pin: the pin is what the operator said.
func ResolveTrust(ctx context.Context, t pki.Trust, addr, serverName string) (pki.Trust, error) {
	if t.CAFile != "" {
		_, err := pki.ClientConfig(t, "", nil, nil)
		if err == nil {
			return t, nil
		}
		if t.Pin == "" || !errors.Is(err, pki.ErrPinMismatch) {
			return t, err
		}
		t.CAFile = ""
	}
	return t.Resolve(ctx, addr, serverName)
}

// agentTLS returns the TLS configuration of a connection to helen: helen
// verified by trust at the agent's clock's time, cert (when not nil)
// presented, alpn offered.
func agentTLS(trust pki.Trust, cert *tls.Certificate, alpn string, clk clock.PassiveClock) (*tls.Config, error) {
	cfg, err := pki.ClientConfig(trust, "", cert, []string{alpn})
	if err != nil {
		return nil, fmt.Errorf("TLS configuration: %w", err)
	}
	if clk != nil {
		cfg.Time = clk.Now
	}
	return cfg, nil
}
