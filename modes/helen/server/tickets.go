package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// TicketSecretFile holds the secret helen derives its TLS session ticket
// keys from, so that agents resume their TLS sessions across a restart of
// helen: a resumed handshake costs neither side a signature nor a
// certificate's verification, which is most of a mutual TLS handshake's
// CPU when a whole fleet comes back at once. A resumed session still
// carries the agent's certificate, which helen checks as it checks any
// (revocation, the pinned certificate), and crypto/tls resumes only one
// whose chain is still valid and rooted in helen's CA. TLS 1.3 resumption
// with Go runs a fresh key exchange, so the secret gives no one the
// traffic of past sessions; it is helen's own, beside its CA key.
const TicketSecretFile = "ticket-secret"

// ticketKeyDays is how many days of ticket keys helen accepts: one key a
// day, derived from the secret, the newest encrypting. Go's tickets live
// 7 days at most.
const ticketKeyDays = 8

// loadOrCreateTicketSecret returns the secret in dir, made on first start.
func loadOrCreateTicketSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, TicketSecretFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil && len(data) == 32:
		return data, nil
	case err == nil:
		return nil, fmt.Errorf("ticket secret %s: %d bytes, want 32; remove it to make a new one", path, len(data))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("ticket secret: %w", err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ticket secret: %w", err)
	}
	if _, err := f.Write(secret); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("ticket secret: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("ticket secret: %w", err)
	}
	return secret, nil
}

// ticketKeys returns the session ticket keys at now, today's first.
func ticketKeys(secret []byte, now time.Time) [][32]byte {
	day := now.UTC().Unix() / (24 * 60 * 60)
	keys := make([][32]byte, ticketKeyDays)
	for i := range keys {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte("equus session ticket key "))
		binary.Write(mac, binary.BigEndian, day-int64(i))
		copy(keys[i][:], mac.Sum(nil))
	}
	return keys
}

// rotateTicketKeys sets the ticket keys of the day every hour until ctx
// ends.
func (s *Server) rotateTicketKeys(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.hub.SetSessionTicketKeys(ticketKeys(s.ticketSecret, s.cfg.Clock.Now()))
		}
	}
}
