package helen

import (
	"slices"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/state/pgstore"
)

// The data directory of a helen of a shared store holds none of its
// state: with that helen running the commands ask it; stopped, each says
// that its state is in PostgreSQL, and which (the URL without its
// password), rather than that the directory is no helen's, and leaves it
// as it was.
func TestSharedStoreDir(t *testing.T) {
	url := pgtest.DB(t)
	key := make([]byte, server.StoreKeySize)
	for i := range key {
		key[i] = byte(i)
	}
	h := startHelen(t, server.Config{Store: url, HelenID: "helen-a", StoreKey: key})
	if printed, code := helenCLI(t, "agents", "--data", h.dir); code != 0 {
		t.Fatalf("helen agents on a running helen of a shared store: exit %d, %q", code, printed)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, cmd := range helenCommands {
		args := append(slices.Clone(cmd.path), "--data", h.dir)
		for _, a := range cmd.rest {
			args = append(args, strings.ReplaceAll(a, "OUT", out))
		}
		before := dirState(t, h.dir)
		printed, code := helenCLI(t, args...)
		want := 1
		if cmd.path[0] == "run" {
			want = 3 // its exit status is a Nagios code
		}
		if code != want || !strings.Contains(printed, "helen is not running") || !strings.Contains(printed, "in PostgreSQL (--store "+pgstore.Redact(url)+")") ||
			strings.Contains(printed, "not a helen data directory") {
			t.Errorf("helen %s: exit %d, %q; want %d, helen not running, its state in PostgreSQL at %s", strings.Join(args, " "), code, printed, want, pgstore.Redact(url))
		}
		if after := dirState(t, h.dir); after != before {
			t.Errorf("helen %s changed %s:\n%s\nbecame\n%s", strings.Join(args, " "), h.dir, before, after)
		}
	}
	// helen migrate has no state there to copy.
	if printed, code := helenCLI(t, "migrate", "--data", h.dir, "--to", url); code != 2 || !strings.Contains(printed, "in PostgreSQL") {
		t.Errorf("helen migrate of a helen of a shared store: exit %d, %q; want 2, its state in PostgreSQL", code, printed)
	}
}
