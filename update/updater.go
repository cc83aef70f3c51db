package update

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/minio/selfupdate"
)

// Updater replaces one binary in two steps, so that a supervisor can stop
// its child between them: Prepare writes the new binary next to the target
// and checks it, Commit swaps it in and keeps the old one at Target+".old",
// and Rollback puts the old one back. An Updater runs one update at a time;
// it is safe for concurrent use.
type Updater struct {
	// Target is the binary to replace.
	Target string
	// NoRunCheck reports whether Prepare skips running "<new> version",
	// which must otherwise exit with status 0.
	NoRunCheck bool
	// RunTimeout bounds the run check; zero means DefaultRunTimeout.
	RunTimeout time.Duration

	mu    sync.Mutex
	state updaterState
	opts  selfupdate.Options
}

type updaterState int

const (
	idle      updaterState = iota
	preparing              // Prepare is running
	prepared               // a new binary waits for Commit
)

// Prepare writes newBinary next to Target, ready for Commit, after checking
// that it runs. While an update is being prepared or waits for Commit, it
// returns ErrBusy.
func (u *Updater) Prepare(newBinary string) error {
	u.mu.Lock()
	if u.state != idle {
		u.mu.Unlock()
		return ErrBusy
	}
	u.state = preparing
	u.mu.Unlock()

	opts, err := u.prepare(newBinary)

	u.mu.Lock()
	defer u.mu.Unlock()
	u.state = idle
	if err != nil {
		return fmt.Errorf("update: prepare %s: %w", u.Target, err)
	}
	u.state, u.opts = prepared, opts
	return nil
}

func (u *Updater) prepare(newBinary string) (selfupdate.Options, error) {
	target, err := os.Stat(u.Target)
	if err != nil {
		return selfupdate.Options{}, err
	}
	sum, size, err := hashFile(newBinary)
	if err != nil {
		return selfupdate.Options{}, err
	}
	if size > MaxBinary {
		return selfupdate.Options{}, fmt.Errorf("%s: %d bytes: %w", newBinary, size, ErrTooLarge)
	}
	if !u.NoRunCheck {
		if err := u.runCheck(newBinary); err != nil {
			return selfupdate.Options{}, err
		}
	}
	raw, err := hex.DecodeString(sum)
	if err != nil {
		return selfupdate.Options{}, err
	}
	opts := selfupdate.Options{
		TargetPath:  u.Target,
		TargetMode:  target.Mode().Perm(),
		OldSavePath: u.Target + ".old",
		// The checksum of the file that passed the run check: selfupdate
		// refuses to write anything else.
		Checksum: raw,
	}
	if err := opts.CheckPermissions(); err != nil {
		return selfupdate.Options{}, fmt.Errorf("cannot write next to the target: %w", err)
	}
	f, err := os.Open(newBinary)
	if err != nil {
		return selfupdate.Options{}, err
	}
	defer f.Close()
	if err := selfupdate.PrepareAndCheckBinary(f, opts); err != nil {
		os.Remove(newPath(u.Target))
		return selfupdate.Options{}, err
	}
	return opts, nil
}

// runCheck runs "<bin> version", which must exit with status 0 in time.
func (u *Updater) runCheck(bin string) error {
	timeout := u.RunTimeout
	if timeout == 0 {
		timeout = DefaultRunTimeout
	}
	_, err := runVersion(context.Background(), bin, timeout)
	return err
}

// Commit swaps the prepared binary in, keeping the old one at
// Target+".old" for Rollback. When the swap fails, the old binary stays at
// Target (unless the error says that putting it back failed too) and the
// prepared update is dropped.
func (u *Updater) Commit() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state != prepared {
		return fmt.Errorf("update: commit %s: %w", u.Target, ErrNotPrepared)
	}
	u.state = idle
	if err := selfupdate.CommitBinary(u.opts); err != nil {
		os.Remove(newPath(u.Target))
		if rerr := selfupdate.RollbackError(err); rerr != nil {
			return fmt.Errorf("update: commit %s: %w; and restoring the old binary failed: %v", u.Target, err, rerr)
		}
		return fmt.Errorf("update: commit %s: %w", u.Target, err)
	}
	return nil
}

// Abort drops a prepared update, removing its file.
func (u *Updater) Abort() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state != prepared {
		return fmt.Errorf("update: abort %s: %w", u.Target, ErrNotPrepared)
	}
	u.state = idle
	if err := os.Remove(newPath(u.Target)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("update: abort: %w", err)
	}
	return nil
}

// Rollback puts back the binary that the last Commit replaced. While an
// update is in progress it returns ErrBusy.
func (u *Updater) Rollback() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state != idle {
		return ErrBusy
	}
	old := u.Target + ".old"
	if _, err := os.Stat(old); err != nil {
		return fmt.Errorf("update: rollback %s: no previous binary: %w", u.Target, err)
	}
	if err := os.Rename(old, u.Target); err != nil {
		return fmt.Errorf("update: rollback %s: %w", u.Target, err)
	}
	return nil
}

// newPath is where selfupdate writes the prepared binary.
func newPath(target string) string {
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".new")
}
