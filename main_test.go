package main

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goTool is the go command of the toolchain running the tests.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// run runs name with args in dir and returns its output, failing the test
// when it fails.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestVersionNamesCommit builds equus the way a release is built, with the
// version, commit and date given to the linker, and checks that `equus
// version` prints them.
func TestVersionNamesCommit(t *testing.T) {
	const commit = "0123456789abcdef0123456789abcdef01234567"
	const date = "2026-01-02T03:04:05Z"
	bin := filepath.Join(t.TempDir(), "equus")
	run(t, ".", goTool(t), "build", "-trimpath", "-o", bin,
		"-ldflags", "-s -w -X main.version=1.2.3 -X main.commit="+commit+" -X main.date="+date, ".")
	got := run(t, ".", bin, "version")
	want := "equus 1.2.3 " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + " commit " + commit + " " + date
	if got != want {
		t.Errorf("version printed\n %q\nwant\n %q", got, want)
	}
}

// TestVersionFromCheckout builds equus with a plain `go build` in a git
// checkout, without link flags, and checks that `equus version` names the
// commit and its time from the toolchain's record, which `go version -m`
// shows. The checkout is a new repository holding this one's files as they
// are (committed or not) in one commit of a known time: the toolchain
// records nothing in a git worktree, whose .git is a file.
func TestVersionFromCheckout(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	list, err := exec.Command(git, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Skip("not a git checkout")
	}
	src := t.TempDir()
	for _, name := range strings.Split(strings.TrimSuffix(string(list), "\x00"), "\x00") {
		b, err := os.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(src, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const at = "2026-01-02T03:04:05Z"
	gitIn := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(git, append([]string{"-c", "user.name=equus", "-c", "user.email=equus@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE="+at, "GIT_COMMITTER_DATE="+at)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitIn("init", "--quiet")
	gitIn("add", "--all")
	gitIn("commit", "--quiet", "--no-verify", "-m", "snapshot")
	head := gitIn("rev-parse", "HEAD")

	bin := filepath.Join(t.TempDir(), "equus")
	run(t, src, goTool(t), "build", "-trimpath", "-buildvcs=true", "-o", bin, ".")
	m := run(t, src, goTool(t), "version", "-m", bin)
	if !strings.Contains(m, "vcs.revision="+head) || !strings.Contains(m, "vcs.time="+at) {
		t.Fatalf("go version -m names no vcs.revision=%s, vcs.time=%s:\n%s", head, at, m)
	}
	got := run(t, src, bin, "version")
	if want := " commit " + head + " " + at; !strings.HasSuffix(got, want) {
		t.Errorf("version printed %q, want it to end in %q", got, want)
	}
}
