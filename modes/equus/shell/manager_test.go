package shell

import (
	"context"
	"log/slog"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/leakcheck"
)

// TestMain fails the run when a test leaves a goroutine of a session behind.
func TestMain(m *testing.M) { leakcheck.Main(m, "equus/modes/equus/shell.") }

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name string
		args string
		err  string
	}{
		{"ok", `{"id":"s1","secret":"x","command":["ls","-l"]}`, ""},
		{"extra-timeout", `{"id":"s1","secret":"x","_timeout_ms":5000}`, ""},
		{"not-json", `[`, "args"},
		{"no-id", `{"secret":"x"}`, "id"},
		{"id-space", `{"id":"a b","secret":"x"}`, "id"},
		{"no-secret", `{"id":"s1"}`, "secret"},
		{"empty-program", `{"id":"s1","secret":"x","command":[""]}`, "empty program"},
		{"nul-arg", `{"id":"s1","secret":"x","command":["ls","a\u0000b"]}`, "NUL"},
		{"term-shell", `{"id":"s1","secret":"x","tty":true,"term":"$(id)"}`, "term"},
		{"term-long", `{"id":"s1","secret":"x","term":"` + strings.Repeat("x", MaxTerm+1) + `"}`, "term"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRequest([]byte(tt.args))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("parseRequest = %v, want %q", err, tt.err)
			}
		})
	}
	req, err := parseRequest([]byte(`{"id":"s1","secret":"x","tty":true}`))
	if err != nil || req.Cols != 80 || req.Rows != 24 || req.Term != "xterm" {
		t.Fatalf("a terminal's defaults: %+v %v", req, err)
	}
}

func TestBound(t *testing.T) {
	for _, tc := range []struct {
		agent time.Duration
		asked int64
		want  time.Duration
	}{
		{time.Hour, 0, time.Hour},
		{time.Hour, -5, time.Hour},
		{time.Hour, 60_000, time.Minute},
		{time.Hour, 2 * 3600_000, time.Hour}, // never more than the agent's
	} {
		if got := bound(tc.agent, tc.asked); got != tc.want {
			t.Errorf("bound(%s, %d) = %s, want %s", tc.agent, tc.asked, got, tc.want)
		}
	}
}

// TestAccountNotRoot holds an agent not running as root to its own user,
// whatever --shell-users lists.
func TestAccountNotRoot(t *testing.T) {
	m, err := New(context.Background(), Config{Users: []string{"nobody", "root"}}, nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	m.root = false
	self, _ := user.Current()
	other := "nobody"
	if self.Username == "nobody" {
		other = "root"
	}
	m.cfg.Users = append(m.cfg.Users, self.Username)
	if _, err := m.account(other); err == nil || !strings.Contains(err.Error(), "not root") {
		t.Fatalf("account(%s) as not root: %v", other, err)
	}
	a, err := m.account("")
	if err != nil || a.name != self.Username || a.other {
		t.Fatalf("account(\"\") = %+v %v, want the agent's own", a, err)
	}
	if _, err := m.account("no-such-user-here"); err == nil || !strings.Contains(err.Error(), "not in") {
		t.Fatalf("a user not listed: %v", err)
	}
}

func TestLookPath(t *testing.T) {
	if p, err := lookPath("sh", "/nonexistent:/bin:/usr/bin"); err != nil || !strings.HasSuffix(p, "/sh") {
		t.Fatalf("lookPath(sh) = %q %v", p, err)
	}
	if _, err := lookPath("sh", "/nonexistent"); err == nil {
		t.Fatal("lookPath found sh where there is none")
	}
	if p, _ := lookPath("./x", ""); p != "./x" {
		t.Fatalf("a path with a slash: %q", p)
	}
}
