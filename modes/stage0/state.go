package stage0

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stateFileName is stage0's memory in the agent's data directory.
const stateFileName = "stage0-state.json"

// persisted is what stage0 remembers across its restarts.
type persisted struct {
	// Bad holds the versions that failed to start here, which stage0
	// never installs again.
	Bad map[string]badVersion `json:"bad_versions"`
}

// badVersion says when and why a version failed.
type badVersion struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// loadState reads the state file at path; a missing file is an empty
// state.
func loadState(path string) (persisted, error) {
	st := persisted{Bad: map[string]badVersion{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("stage0 state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return persisted{Bad: map[string]badVersion{}}, fmt.Errorf("stage0 state %s: %w", path, err)
	}
	if st.Bad == nil {
		st.Bad = map[string]badVersion{}
	}
	return st, nil
}

// save writes st to path through a temporary file and a rename, so that a
// crash leaves the old state or the new one.
func (st persisted) save(path string) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("stage0 state: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("stage0 state: %w", err)
	}
	defer os.Remove(f.Name()) // gone by the rename on success
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("stage0 state: %w", err)
	}
	return nil
}
