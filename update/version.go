package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// DefaultRunTimeout bounds "<bin> version": the run check of Prepare when
// Updater.RunTimeout is zero, and BinaryVersion.
const DefaultRunTimeout = 10 * time.Second

// BinaryVersion runs "<bin> version", which must exit with status 0 within
// DefaultRunTimeout, and returns the version of equus it names, as in
// "equus 1.2.3 go1.26 linux/amd64".
func BinaryVersion(ctx context.Context, bin string) (string, error) {
	out, err := runVersion(ctx, bin, DefaultRunTimeout)
	if err != nil {
		return "", err
	}
	fields := strings.Fields(string(out))
	if len(fields) < 2 || fields[0] != "equus" {
		return "", fmt.Errorf("%q printed %q, not the version of equus", bin+" version", firstLine(out))
	}
	return fields[1], nil
}

// runVersion runs "<bin> version", which must exit with status 0 within
// timeout and before ctx ends, and returns its standard output. Its error
// names the first line the binary wrote, on its standard error if any.
func runVersion(ctx context.Context, bin string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "version")
	// Output pipes held open by a grandchild must not hold the caller up.
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		said := out
		var exit *exec.ExitError
		if errors.As(err, &exit) && len(bytes.TrimSpace(exit.Stderr)) > 0 {
			said = exit.Stderr
		}
		return nil, fmt.Errorf("%q does not run: %q: %w", bin+" version", firstLine(said), err)
	}
	return out, nil
}

// firstLine returns the first line of what a binary wrote, cut at 200
// bytes, for an error message.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
