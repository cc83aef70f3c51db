package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"aead.dev/minisign"

	"github.com/equus-monitoring/equus/update"
)

// UpdateKeyFile is where `helen serve` records the update key it serves
// with, so that `helen token` run while no helen runs makes join commands
// that carry it too.
const UpdateKeyFile = "update-key.pub"

// RecordUpdateKey writes key into the data directory, or removes the file
// when key is nil (helen serves unsigned releases now).
func RecordUpdateKey(dataDir string, key *minisign.PublicKey) error {
	path := filepath.Join(dataDir, UpdateKeyFile)
	if key == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("helen: %w", err)
		}
		return nil
	}
	text, err := key.MarshalText()
	if err != nil {
		return fmt.Errorf("helen: update key: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, "."+UpdateKeyFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("helen: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone by the rename on success
	_, err = tmp.Write(append(text, '\n'))
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("helen: update key: %w", err)
	}
	return nil
}

// RecordedUpdateKey returns the update key the last `helen serve` of
// dataDir recorded, nil when it had none.
func RecordedUpdateKey(dataDir string) (*minisign.PublicKey, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, UpdateKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("helen: %w", err)
	}
	key, err := update.ParsePublicKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("helen: %s: %w", filepath.Join(dataDir, UpdateKeyFile), err)
	}
	return key, nil
}
