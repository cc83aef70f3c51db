package helen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// helenCommands are the commands of helen but serve, with what each needs
// before --data and after it.
var helenCommands = []struct {
	path, rest []string
}{
	{[]string{"token"}, nil},
	{[]string{"token"}, []string{"--agent", "web-1"}},
	{[]string{"issue"}, []string{"--out", "OUT", "web-1"}},
	{[]string{"agents"}, nil},
	{[]string{"revoke"}, []string{"web-1"}},
	{[]string{"run"}, []string{"web-1", "load"}},
	{[]string{"history"}, []string{"web-1"}},
	{[]string{"schedule", "add"}, []string{"--check", "load", "--every", "1m", "load"}},
	{[]string{"schedule", "list"}, nil},
	{[]string{"schedule", "rm"}, []string{"load"}},
	{[]string{"status"}, nil},
	{[]string{"events"}, nil},
	{[]string{"reload"}, []string{"web-1"}},
}

// Only helen serve makes a data directory: every other command given one
// that is no helen's (no CA, no database), a file or nothing refuses it
// as a usage error saying where helens keep theirs, and leaves it as it
// was: `helen token --data PARENT` wrote a CA and a database there and
// printed a join command for a CA that no helen serves.
func TestNotHelenDir(t *testing.T) {
	parent := t.TempDir()
	file := filepath.Join(parent, "notes.txt")
	if err := os.WriteFile(file, []byte("not helen's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, dir := range []string{parent, file, filepath.Join(parent, "missing")} {
		for _, cmd := range helenCommands {
			args := append(slices.Clone(cmd.path), "--data", dir)
			for _, a := range cmd.rest {
				args = append(args, strings.ReplaceAll(a, "OUT", out))
			}
			before := dirState(t, parent)
			printed, code := helenCLI(t, args...)
			want := 2
			if cmd.path[0] == "run" {
				want = 3 // its exit status is a Nagios code
			}
			if code != want || !strings.Contains(printed, dir+": not a helen data directory") || !strings.Contains(printed, "/var/lib/helen") {
				t.Errorf("helen %s: exit %d, %q; want %d, a refusal of %s saying where helens keep theirs", strings.Join(args, " "), code, printed, want, dir)
			}
			if after := dirState(t, parent); after != before {
				t.Errorf("helen %s changed %s:\n%s\nbecame\n%s", strings.Join(args, " "), parent, before, after)
			}
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("helen issue wrote %v", entries)
	}
}

// A database without a CA beside it is a first start of helen serve cut
// short: the commands that read the database work, and those that need
// the CA say so instead of making one (the next helen serve does).
func TestOfflineMakesNoCA(t *testing.T) {
	dir := t.TempDir()
	db, err := state.Open(filepath.Join(dir, server.DBFile), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, dir)
	if out, code := helenCLI(t, "agents", "--data", dir); code != 0 || !strings.Contains(out, "NAME") {
		t.Errorf("agents: exit %d, %q", code, out)
	}
	for _, args := range [][]string{{"token", "--data", dir}, {"issue", "--data", dir, "--out", t.TempDir(), "web-1"}} {
		if out, code := helenCLI(t, args...); code == 0 || !strings.Contains(out, filepath.Join(dir, "ca.pem")) {
			t.Errorf("helen %s: exit %d, %q; want an error naming the missing CA", args[0], code, out)
		}
	}
	if after := dirState(t, dir); after != before {
		t.Errorf("the commands changed the data directory:\n%s\nbecame\n%s", before, after)
	}
}

// TestScheduleRequests: helen schedule add refuses an interval under the
// minimum and a timeout longer than the interval (usage errors, online or
// not), and a check that helen's agents do not have: built in, embedded or
// in its bundle, which a running helen knows and the offline command finds
// in --checks.
func TestScheduleRequests(t *testing.T) {
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "mine.lua"), []byte(`return function() return {status = "ok"} end`), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h := startHelen(t, server.Config{DataDir: dir, ChecksDir: bundle})
	h.stop()
	h.srv.Close()

	tests := []struct {
		name    string
		args    []string
		offline int // exit status with helen stopped
		online  int // and running
		msg     string
	}{
		{"too-often", []string{"--check", "load", "--every", "100ms"}, 2, 2, "interval 100ms is under the minimum of 1s"},
		{"timeout-past-interval", []string{"--check", "load", "--every", "10s", "--timeout", "30s"}, 2, 2, "timeout 30s is longer than the interval 10s"},
		{"no-such-check", []string{"--check", "nosuchcheck", "--every", "1m"}, 1, 1, `no such check "nosuchcheck"`},
		{"typo", []string{"--check", "lod", "--every", "1m"}, 1, 1, "(nearest: load)"},
		{"embedded", []string{"--check", "load", "--every", "10s"}, 0, 0, ""},
		{"built-in", []string{"--check", "equus.ping", "--every", "1m"}, 0, 0, ""},
		{"bundle", []string{"--check", "mine", "--every", "1m"}, 1, 0, ""},
		{"bundle-given", []string{"--check", "mine", "--every", "1m", "--checks", bundle}, 0, 0, ""},
	}
	run := func(online bool) {
		for _, tt := range tests {
			args := append([]string{"schedule", "add", "--data", dir}, tt.args...)
			out, code := helenCLI(t, append(args, tt.name)...)
			want := tt.offline
			if online {
				want = tt.online
			}
			if code != want || !strings.Contains(out, tt.msg) {
				t.Errorf("online %v, %s: exit %d, %q; want %d and %q", online, tt.name, code, out, want, tt.msg)
			}
			if !online && tt.name == "bundle" && !strings.Contains(out, "give --checks DIR") {
				t.Errorf("offline, a check not embedded: %q does not say to give the bundle", out)
			}
		}
		out, code := helenCLI(t, "schedule", "list", "--json", "--data", dir)
		var views []web.ScheduleView
		if err := json.Unmarshal([]byte(out), &views); err != nil || code != 0 {
			t.Fatalf("schedule list: exit %d, %q (%v)", code, out, err)
		}
		var names []string
		for _, v := range views {
			names = append(names, v.Name)
			// The timeout is the default's or the interval's, the shorter.
			if v.Name == "embedded" && v.Timeout != web.Duration(10*time.Second) {
				t.Errorf("schedule embedded: timeout %v, want the interval, 10s", time.Duration(v.Timeout))
			}
		}
		want := []string{"built-in", "bundle-given", "embedded"}
		if online {
			want = []string{"built-in", "bundle", "bundle-given", "embedded"}
		}
		if !slices.Equal(names, want) {
			t.Errorf("online %v: schedules %q, want %q", online, names, want)
		}
	}
	run(false)
	h = startHelen(t, server.Config{DataDir: dir, ChecksDir: bundle})
	run(true)
}

// helen revoke of a name helen never knew (a typo) is an error and
// revokes nothing; of a known agent, or one revoked already, it revokes.
func TestRevokeUnknown(t *testing.T) {
	h := startHelen(t, server.Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	data := "--data=" + h.dir
	revoke := func(online bool) {
		if out, code := helenCLI(t, "revoke", data, "ghost"); code != 1 || !strings.Contains(out, "no such agent: ghost") {
			t.Errorf("online %v: revoke ghost: exit %d, %q; want 1 and no such agent", online, code, out)
		}
		if out, code := helenCLI(t, "revoke", data, "web-1"); code != 0 || !strings.Contains(out, "revoked web-1") {
			t.Errorf("online %v: revoke web-1: exit %d, %q", online, code, out)
		}
	}
	revoke(true)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	revoke(false)

	db, err := state.Open(filepath.Join(h.dir, server.DBFile), state.Options{Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, want := range map[string]bool{"ghost": false, "web-1": true} {
		if revoked, err := db.Revoked(name); err != nil || revoked != want {
			t.Errorf("%s revoked %v (%v), want %v", name, revoked, err, want)
		}
	}
}
