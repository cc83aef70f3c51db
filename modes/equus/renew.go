package equus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/internal/backoff"
	"github.com/equus-monitoring/equus/pki"
)

// renewPath is helen's renewal endpoint on the agents' port.
const renewPath = "/v1/renew"

const (
	// renewRetryMax bounds the wait between two attempts at a renewal
	// that failed; the waits start at Config.BackoffMin and never reach
	// past half of the certificate's remaining validity.
	renewRetryMax = time.Hour
	// renewCheckEvery bounds one wait for the moment to renew, so that a
	// machine that slept through it (monotonic time stood still) renews
	// within this of waking up.
	renewCheckEvery = time.Hour
)

// renewLoop renews the agent's certificate over mutual TLS with the
// current one whenever two thirds of its validity have passed
// (pki.RenewAt), until ctx ends. A renewal that fails leaves the current
// certificate and its files as they were and is tried again with backoff,
// with a warning each time.
func (a *agent) renewLoop(ctx context.Context) {
	bo := &backoff.Exponential{Min: a.cfg.BackoffMin, Max: renewRetryMax, Jitter: backoff.FullJitter}
	for {
		leaf := a.currentCert().Leaf
		if err := a.sleepUntil(ctx, pki.RenewAt(leaf)); err != nil {
			return
		}
		err := a.renew(ctx)
		if err == nil {
			bo.Reset()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		wait := min(bo.Next(), max(leaf.NotAfter.Sub(a.clock.Now())/2, a.cfg.BackoffMin))
		a.log.Warn("certificate renewal failed; keeping the current certificate and trying again later",
			"err", err, "retry_in", wait.Round(time.Millisecond), "expires", leaf.NotAfter.UTC().Format(time.RFC3339))
		if err := a.sleepUntil(ctx, a.clock.Now().Add(wait)); err != nil {
			return
		}
	}
}

// sleepUntil waits until the agent's clock reads t, or until ctx ends; it
// returns ctx.Err() in that case.
func (a *agent) sleepUntil(ctx context.Context, t time.Time) error {
	for {
		d := t.Sub(a.clock.Now())
		if d <= 0 {
			return nil
		}
		timer := a.clock.NewTimer(min(d, renewCheckEvery))
		select {
		case <-timer.C():
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}

// renew asks helen for a certificate for a new key, writes the pair in
// place of the current one (pki.ReplaceKeyPair) and switches the agent to
// it: the session using the old certificate ends and the agent reconnects
// with the new one, whose first use makes it the one helen takes. The key
// is made here and never leaves the machine.
func (a *agent) renew(ctx context.Context) error {
	cur := a.currentCert()
	name := cur.Leaf.Subject.CommonName
	csrPEM, keyPEM, err := pki.NewCSR(name)
	if err != nil {
		return err
	}
	trust, err := a.resolvedTrust(ctx)
	if err != nil {
		return err
	}
	tlsCfg, err := agentTLS(trust, &cur, "http/1.1", a.clock)
	if err != nil {
		return err
	}
	h := a.currentHelen()
	tlsCfg.ServerName = h.serverName
	resp, state, err := postPKI(ctx, h.dial, renewPath, tlsCfg, pki.RenewRequest{CSR: string(csrPEM)})
	if err != nil {
		return fmt.Errorf("renew at %s: %w", h, err)
	}
	cert, err := checkIssued(resp, keyPEM, state)
	if err != nil {
		return fmt.Errorf("renew at %s: %w", h, err)
	}
	if got := cert.Leaf.Subject.CommonName; got != name {
		return fmt.Errorf("renew at %s: helen issued a certificate for %q, not %q", h, got, name)
	}
	certPath, keyPath := a.cfg.KeyPairFiles()
	if err := pki.ReplaceKeyPair(certPath, keyPath, []byte(resp.Cert), keyPEM); err != nil {
		// The files hold the old pair, or the new one if only the last
		// step failed: the agent goes on with what they hold.
		onDisk, lerr := pki.LoadKeyPair(certPath, keyPath)
		if lerr != nil || !onDisk.Leaf.Equal(cert.Leaf) {
			return fmt.Errorf("keep the renewed certificate: %w", err)
		}
	}
	a.log.Info("certificate renewed; reconnecting with it", "name", name,
		"expires", cert.Leaf.NotAfter.UTC().Format(time.RFC3339), "cert", certPath)
	a.switchCert(cert)
	return nil
}

// currentCert returns the certificate the agent presents now.
func (a *agent) currentCert() tls.Certificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cert
}

// sessionCert returns the certificate a new session presents, and a
// context that ends when a renewal replaces it.
func (a *agent) sessionCert() (tls.Certificate, context.Context, context.CancelFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	a.endSession = cancel
	return a.cert, ctx, cancel
}

// switchCert makes cert the agent's certificate and ends the session that
// presents the old one.
func (a *agent) switchCert(cert tls.Certificate) {
	a.mu.Lock()
	a.cert = cert
	end := a.endSession
	a.endSession = nil
	a.mu.Unlock()
	if end != nil {
		end()
	}
}

// resolvedTrust returns how helen is recognised, its CA fetched by the pin
// the first time, from the helen dialed now.
func (a *agent) resolvedTrust(ctx context.Context) (pki.Trust, error) {
	a.mu.Lock()
	t, h := a.trust, a.helen
	a.mu.Unlock()
	t, err := ResolveTrust(ctx, t, h.dial, h.serverName)
	if err != nil {
		return t, err
	}
	a.mu.Lock()
	a.trust = t
	a.mu.Unlock()
	return t, nil
}

// ErrCertExpired is returned, wrapped with what to do about it, by Run for
// an agent whose certificate has expired: helen refuses it and it cannot
// be renewed, so the agent must enroll again. The process exits with
// CertExpiredExitCode.
var ErrCertExpired = errors.New("equus: certificate expired")

// CertExpiredExitCode is the exit status of an agent whose certificate
// has expired; stage0 exits with it too, rather than restart the agent.
const CertExpiredExitCode = 4

// expired returns an error wrapping ErrCertExpired when leaf has expired
// by the agent's clock, saying what to do about it; nil otherwise.
func (a *agent) expired(leaf *x509.Certificate) error {
	if a.clock.Now().Before(leaf.NotAfter) {
		return nil
	}
	name := leaf.Subject.CommonName
	certPath, _ := a.cfg.KeyPairFiles()
	fix := fmt.Sprintf("to enroll it again, make a token for its name on helen's machine (equus helen token --agent %s) "+
		"and run the join command it prints here, or start the agent with that token (equus stage0 --token TOKEN)", name)
	if a.cfg.CertFile != "" {
		fix = fmt.Sprintf("give it a new certificate: equus helen issue %s --out DIR", name)
	}
	return fmt.Errorf("%w: the certificate of agent %s (%s) expired on %s, and helen refuses it; %s",
		ErrCertExpired, name, certPath, leaf.NotAfter.UTC().Format("2006-01-02 15:04:05 UTC"), fix)
}
