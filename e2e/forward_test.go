package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/result"
)

// startSharedHelen runs `helen serve` as helen id on the shared store at
// url, with its peer listener on loopback.
func startSharedHelen(t *testing.T, url, keyFile, id string) *helen {
	t.Helper()
	return startHelen(t, built[v100], "--store="+url, "--store-key-file="+keyFile, "--helen-id="+id, "--peer-listen=127.0.0.1:0")
}

// TestForwardBetweenHelens: two helens serve one PostgreSQL store; a real
// agent joins one of them, and helen run, helen shell and helen exec
// asked of the other reach it.
func TestForwardBetweenHelens(t *testing.T) {
	url := pgtest.DB(t)
	key := make([]byte, 32)
	rand.Read(key)
	keyFile := filepath.Join(t.TempDir(), "store.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startSharedHelen(t, url, keyFile, "helen-a")
	b := startSharedHelen(t, url, keyFile, "helen-b")
	startShellAgent(t, b, "web-1", "--allow-shell")

	// The agent is b's; a knows it from the store, connected, and
	// reaches it through b.
	poll(t, "helen-a to list web-1 connected", 30*time.Second, func() bool {
		v, ok := a.agent(t, "web-1")
		return ok && v.Connected
	})
	if doc := a.runCheck(t, "web-1", "equus.ping"); doc.Status != result.OK {
		t.Fatalf("helen run on helen-a: %+v", doc)
	}
	cmd := exec.Command(a.bin, "helen", "shell", "--data", a.data, "web-1", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 || stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("helen shell on helen-a: exit %v, stdout %q, stderr %q; want 7, out, err", err, stdout.String(), stderr.String())
	}
	out, err := run(t, a.bin, "helen", "exec", "--data", a.data, "--agents", "web*", "--", "echo", "hi")
	if err != nil || !strings.Contains(out, "web-1: hi\n") {
		t.Errorf("helen exec on helen-a: %v, printed %q", err, out)
	}
	// b recorded the session it held; a none.
	if out, err := run(t, b.bin, "helen", "sessions", "--data", b.data, "--json"); err != nil || strings.Count(out, `"agent": "web-1"`) != 2 {
		t.Errorf("helen-b's sessions: %v %s", err, out)
	}
	if out, err := run(t, a.bin, "helen", "sessions", "--data", a.data, "--json"); err != nil || strings.Contains(out, "web-1") {
		t.Errorf("helen-a's sessions: %v %s", err, out)
	}
}
