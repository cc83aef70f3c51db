package offers

import (
	"fmt"
	"os"
	"sync"

	"aead.dev/minisign"

	"github.com/equus-monitoring/equus/update"
)

// Bundle keeps the packed check bundle while the check directory
// stays as it was, so that a fleet reloading at once packs it once.
type Bundle struct {
	mu    sync.Mutex
	stamp string
	data  []byte
	sum   string
	err   error
}

// Get returns the bundle of dir and its SHA-256, packing it again only
// when a file in dir changed (by name, size or time). When key is not nil
// the bundle must be signed by it (see update.VerifyBundle), or it is not
// served: helen holds no private key, so whoever can write dir cannot
// have it signed.
func (b *Bundle) Get(dir string, key *minisign.PublicKey) ([]byte, string, error) {
	stamp, err := dirStamp(dir)
	if err != nil {
		return nil, "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if stamp == b.stamp && (b.data != nil || b.err != nil) {
		return b.data, b.sum, b.err
	}
	data, sum, err := update.PackBundle(dir)
	if err != nil {
		return nil, "", err
	}
	if key != nil {
		if err := update.VerifyBundle(data, key); err != nil {
			b.stamp, b.data, b.sum, b.err = stamp, nil, "", fmt.Errorf("check directory %s refused under --update-key: %w", dir, err)
			return nil, "", b.err
		}
	}
	b.stamp, b.data, b.sum, b.err = stamp, data, sum, nil
	return data, sum, nil
}

// dirStamp describes the files of dir by names, sizes and times.
func dirStamp(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	stamp := ""
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		stamp += fmt.Sprintf("%s %d %d %v\n", e.Name(), info.Size(), info.ModTime().UnixNano(), info.Mode())
	}
	return stamp, nil
}
