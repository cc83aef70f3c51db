package helen

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/state"
)

// TestMigrateRefused: helen migrate refuses, before it writes anything, a
// helen that runs, a --to that is no PostgreSQL URL or none, a directory
// that is no helen's; a server that does not answer is named without its
// password. (The copy itself is state/transfer's TestCopy, on a real
// PostgreSQL server.)
func TestMigrateRefused(t *testing.T) {
	h := startHelen(t, server.Config{})
	stopped := t.TempDir()
	db, err := state.Open(filepath.Join(stopped, server.DBFile), state.Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	const pw = "s3cr3t-pw"
	unreachable := "postgres://equus:" + pw + "@127.0.0.1:1/equus?connect_timeout=5"
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"running", []string{"--data", h.dir, "--to", unreachable}, 1, "helen is running"},
		{"no-to", []string{"--data", stopped}, 2, "to"},
		{"not-postgres", []string{"--data", stopped, "--to", "mysql://equus:" + pw + "@db/equus"}, 2, "not a postgres:// URL"},
		{"not-helen", []string{"--data", t.TempDir(), "--to", unreachable}, 2, "not a helen data directory"},
		{"unreachable", []string{"--data", stopped, "--to", unreachable}, 1, "postgres://equus:xxxxx@127.0.0.1:1/equus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := helenCLI(t, append([]string{"migrate"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.says) {
				t.Errorf("exit %d, %q; want %d saying %q", code, out, tt.code, tt.says)
			}
			if strings.Contains(out, pw) {
				t.Errorf("the password is shown: %q", out)
			}
		})
	}
}
