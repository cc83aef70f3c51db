package helen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/modes/setup"
)

// The flags of a shared store are checked before anything is opened: a
// missing or bad store key, or one without a shared store, is a usage
// error that says what is wrong.
func TestServeStoreFlags(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	good := filepath.Join(dir, "good.key")
	if err := os.WriteFile(short, []byte("00112233\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const pg = "--store=postgres://equus:secret@db.invalid/equus"
	for _, tt := range []struct {
		name string
		env  string // HELEN_STORE_KEY, when not empty
		args []string
		want string
	}{
		{"no-key", "", []string{pg}, "a store key is needed"},
		{"short-key", "", []string{pg, "--store-key-file=" + short}, "want 32 bytes"},
		{"missing-key-file", "", []string{pg, "--store-key-file=" + filepath.Join(dir, "none")}, "--store-key-file"},
		{"bad-env-key", "not a key", []string{pg}, StoreKeyEnv + ": store key: want 32 bytes"},
		{"key-twice", strings.Repeat("ab", 32), []string{pg, "--store-key-file=" + good}, "give the store key one way"},
		{"not-postgres", "", []string{"--store=" + filepath.Join(dir, "helen.db")}, "want a postgres:// URL"},
		{"id-alone", "", []string{"--helen-id=h1"}, "--helen-id"},
		{"key-alone", "", []string{"--store-key-file=" + good}, "a store key seals the secrets of a shared --store only"},
		{"bad-id", "", []string{pg, "--store-key-file=" + good, "--helen-id=a/b"}, "--helen-id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv(StoreKeyEnv, tt.env)
			}
			args := append([]string{"serve", "--data=" + t.TempDir(), "--listen=127.0.0.1:0", "--http="}, tt.args...)
			out, code := helenCLI(t, args...)
			if code == 0 || !strings.Contains(out, tt.want) {
				t.Fatalf("serve %v: exit %d, %q; want an error saying %q", tt.args, code, out, tt.want)
			}
			if tt.name != "bad-id" && code != setup.ExitConfig {
				t.Fatalf("serve %v: exit %d, want %d", tt.args, code, setup.ExitConfig)
			}
			if strings.Contains(out, "secret@") {
				t.Fatalf("the database's password in %q", out)
			}
		})
	}
}
