package lua

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// DefaultExecDirs are the directories programs may be run from when
// ExecPolicy.Dirs is empty: where the Nagios and Monitoring Plugins
// packages install their plugins.
var DefaultExecDirs = []string{
	"/usr/lib/nagios/plugins",     // Debian, Ubuntu, SUSE
	"/usr/lib64/nagios/plugins",   // Fedora, RHEL and EPEL (%{_libdir})
	"/usr/lib/monitoring-plugins", // Alpine, Arch
	"/usr/local/libexec/nagios",   // FreeBSD ports
	"/usr/local/nagios/libexec",   // built from source with the default prefix
}

// ExecPolicy is the agent's own rule for the programs checks may run
// through the exec module. It comes from the agent's command line and
// config file only: nothing helen sends, neither a check's args nor the
// check bundle (which may hold any nagios.lua), can change it, since it
// is enforced here, where Lua reaches programs, and not in a check.
type ExecPolicy struct {
	// Off turns running programs off: exec.run refuses every program.
	Off bool
	// Dirs are the directories programs may be run from, or from below
	// (for a Runtime, DefaultExecDirs when empty).
	Dirs []string
	// AllowWrappers are the names of Wrappers that checks may run all the
	// same: allowing one lets whoever sends a check's args run any
	// command with the agent's rights.
	AllowWrappers []string
	// Self are more paths of the agent's own executable, refused like the
	// running one: its supervisor's (stage0 runs the agent from a copy of
	// its own executable, in the agent's data directory).
	Self []string
}

// wrappers are the programs the exec module refuses to run unless
// ExecPolicy.AllowWrappers names them, each with why: each runs what its
// arguments say, or reads and writes the files they name, so that whoever
// sends a check's args could do anything the agent's user can. A program
// is refused by the name it is asked for and by the name of its real file
// (links resolved); a copy under another name is not recognised, which is
// why Dirs should hold plugin directories only.
//
// check_nrpe is not one: it asks a remote NRPE daemon to run a command
// that daemon defines, and runs nothing here.
var wrappers = func() map[string]string {
	w := map[string]string{
		"negate":       "runs the command in its arguments",
		"urlize":       "runs the command in its arguments",
		"check_by_ssh": "runs ssh, whose -o options run local commands (ProxyCommand)",
		"check_apt":    "passes its --update and --upgrade options to apt-get, whose -o options run commands",
		"check_log":    "copies the file its arguments name over another and prints its lines, so it writes and reads any file",
	}
	// No plugins, but they run what their arguments say, should a
	// directory holding one be allowed.
	for _, sh := range []string{"sh", "bash", "dash", "ksh", "zsh", "busybox"} {
		w[sh] = "is a shell"
	}
	for _, runner := range []string{"env", "timeout", "nice", "nohup", "setsid", "stdbuf", "xargs",
		"flock", "chroot", "ionice", "taskset", "sudo", "su", "doas", "runuser"} {
		w[runner] = "runs the command in its arguments"
	}
	for _, interp := range []string{"perl", "python", "python3"} {
		w[interp] = "runs the code in its arguments"
	}
	// A copy of the agent's executable (the agent itself is refused
	// anyway) would run checks under flags of the caller's choosing.
	for _, self := range []string{"equus", "helen", "stage0"} {
		w[self] = "is equus, whose flags set this policy"
	}
	return w
}()

// Wrappers returns the names of the programs the exec module refuses
// unless ExecPolicy.AllowWrappers names them, in order.
func Wrappers() []string { return slices.Sorted(maps.Keys(wrappers)) }

// errRefused starts the error of every program the policy does not let
// checks run.
var errRefused = errors.New("refused by the agent's policy")

// errNotAllowed is the error of a program outside the allowed directories.
var errNotAllowed = errors.New("not in an allowed directory")

// Validate reports what is wrong with p: a relative directory, a name in
// AllowWrappers that is no wrapper (a typo would allow nothing and say
// nothing), or Off with directories or wrappers it would not use.
func (p ExecPolicy) Validate() error {
	if p.Off && (len(p.Dirs) > 0 || len(p.AllowWrappers) > 0) {
		return errors.New("--no-exec turns running programs off: --exec-dir and --allow-wrappers have nothing to allow")
	}
	for _, d := range p.Dirs {
		if !filepath.IsAbs(d) {
			return fmt.Errorf("--exec-dir %q: want an absolute directory", d)
		}
	}
	for _, w := range p.AllowWrappers {
		if _, ok := wrappers[w]; !ok {
			return fmt.Errorf("--allow-wrappers %q: not a program the agent refuses (those are %s)",
				w, strings.Join(Wrappers(), ", "))
		}
	}
	return nil
}

// resolve returns the real path of program if p lets checks run it, or
// why not. agentPaths are the agent's own files and directories, resolved
// (Env.PrivatePaths): helen writes the check bundle there, so nothing in
// them is run, whatever Dirs say.
func (p ExecPolicy) resolve(program string, agentPaths []string) (string, error) {
	if p.Off {
		return "", fmt.Errorf("%w: running programs is turned off (--no-exec)", errRefused)
	}
	path, err := resolveProgram(p.Dirs, program)
	if err != nil {
		return "", err
	}
	if isSelf(path) || slices.ContainsFunc(p.Self, func(exe string) bool { return sameFile(path, exe) }) {
		return "", fmt.Errorf("%w: %s is the agent's own executable, whose flags set this policy", errRefused, program)
	}
	if private(path, agentPaths) {
		return "", fmt.Errorf("%w: %s is in the agent's data directory, which helen writes", errRefused, program)
	}
	for _, name := range []string{wrapperName(program), wrapperName(path)} {
		if why, ok := wrappers[name]; ok && !slices.Contains(p.AllowWrappers, name) {
			return "", fmt.Errorf("%w: %s %s (allow it with --allow-wrappers %s)", errRefused, name, why, name)
		}
	}
	return path, nil
}

// self is the agent's own executable, with its links resolved, and what
// it is, once read; path "" where it cannot be told.
var self = sync.OnceValues(func() (string, os.FileInfo) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return exe, nil
	}
	return exe, fi
})

// isSelf reports whether path is the agent's own executable: by its path
// (where an update put a new one) or as the same file (a hard link to it).
func isSelf(path string) bool {
	exe, fi := self()
	if exe == "" {
		return false
	}
	if path == exe {
		return true
	}
	other, err := os.Stat(path)
	return err == nil && fi != nil && os.SameFile(fi, other)
}

// sameFile reports whether path is exe, by its path with links resolved
// or as the same file.
func sameFile(path, exe string) bool {
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	if path == exe {
		return true
	}
	a, err := os.Stat(path)
	if err != nil {
		return false
	}
	b, err := os.Stat(exe)
	return err == nil && os.SameFile(a, b)
}

// wrapperName is the name of path as the wrappers list has it: its file
// name in lower case, without ".exe", so that neither case nor a Windows
// suffix hides a wrapper.
func wrapperName(path string) string {
	return strings.TrimSuffix(strings.ToLower(filepath.Base(path)), ".exe")
}
