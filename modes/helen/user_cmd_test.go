package helen

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/internal/passwd"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/state"
)

// TestUserCommands: accounts are added with a password file or a token
// printed once, listed without their hashes, refused when bad, and
// removed, through a running helen and with helen stopped.
func TestUserCommands(t *testing.T) {
	h := startHelen(t, server.Config{})
	db := h.srv.DB()
	data := "--data=" + h.dir
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := helenCLI(t, "user", "add", data, "--password-file="+pwFile, "alice")
	if code != 0 || out != "added alice (operator)\n" {
		t.Fatalf("user add alice: exit %d, %q", code, out)
	}
	u, err := db.User("alice")
	if err != nil || u.Role != state.RoleOperator || !passwd.Verify(u.Hash, "correct horse battery") || passwd.Verify(u.Hash, "correct horse battery\n") {
		t.Fatalf("stored alice %+v, %v: want the hash of the file's first line", u, err)
	}
	if p, _, _, err := passwd.Decode(u.Hash); err != nil || p != passwd.Default {
		t.Errorf("alice's hash parameters %+v, %v; want %+v", p, err, passwd.Default)
	}
	out, code = helenCLI(t, "user", "add", data, "--read-only", "--token", "bob")
	m := regexp.MustCompile(`^added bob \(read-only\); its token, shown this once:\n(equ_\S+)\n$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("user add --token: exit %d, %q", code, out)
	}
	if u, err := db.User("bob"); err != nil || u.Role != state.RoleReadOnly || !passwd.Verify(u.Hash, m[1]) || strings.Contains(u.Hash, m[1]) {
		t.Fatalf("stored bob %+v, %v", u, err)
	}
	for _, bad := range [][]string{
		{"user", "add", data, "--token", "alice"},                              // taken
		{"user", "add", data, "--token", "admin"},                              // the admin token's
		{"user", "add", data, "--token", "a b"},                                // not a name
		{"user", "add", data, "carol"},                                         // no secret
		{"user", "add", data, "--token", "--password-file=" + pwFile, "carol"}, // both
		{"user", "add", data, "--password-file=" + filepath.Join(t.TempDir(), "none"), "carol"},
	} {
		if out, code := helenCLI(t, bad...); code == 0 {
			t.Errorf("%v: exit 0, %q", bad, out)
		}
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("short"), 0o600)
	if out, code := helenCLI(t, "user", "add", data, "--password-file="+short, "carol"); code == 0 || !strings.Contains(out, "12 to 1024 bytes") {
		t.Errorf("a short password: exit %d, %q", code, out)
	}
	if us, _ := db.Users(); len(us) != 2 {
		t.Errorf("the refused adds changed the accounts: %+v", us)
	}
	out, code = helenCLI(t, "user", "list", data)
	if code != 0 || !regexp.MustCompile(`(?s)NAME\s+ROLE\s+CREATED\nalice\s+operator\s+\S+ \S+\nbob\s+read-only`).MatchString(out) || strings.Contains(out, "argon2") {
		t.Errorf("user list: exit %d, %q", code, out)
	}
	if out, code = helenCLI(t, "user", "rm", data, "alice"); code != 0 || out != "removed alice\n" {
		t.Errorf("user rm: exit %d, %q", code, out)
	}
	if out, code = helenCLI(t, "user", "rm", data, "alice"); code == 0 {
		t.Errorf("user rm twice: exit 0, %q", out)
	}
	if _, err := db.User("alice"); err == nil {
		t.Error("alice is still there")
	}

	// With helen stopped, the same commands work on its data directory.
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if out, code := helenCLI(t, "user", "add", data, "--password-file="+pwFile, "carol"); code != 0 {
		t.Fatalf("user add offline: exit %d, %q", code, out)
	}
	if out, code := helenCLI(t, "user", "list", data); code != 0 || !strings.Contains(out, "carol") || !strings.Contains(out, "bob") {
		t.Errorf("user list offline: exit %d, %q", code, out)
	}
}
