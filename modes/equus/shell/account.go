package shell

import (
	"bufio"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// account is the user a session runs as, from its passwd entry.
type account struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
	home   string
	shell  string
	// other reports whether the account is not the agent's own: the
	// session then takes its credentials, which only root can.
	other bool
}

// account returns the account name may run a session as, or why not:
// name empty is the agent's own user; any other must be in --shell-users,
// and the agent must be root to be it.
func (m *Manager) account(name string) (account, error) {
	if name == "" {
		name = m.self.Username
	}
	allowed := m.cfg.Users
	if len(allowed) == 0 {
		allowed = []string{m.self.Username}
	}
	if !slices.Contains(allowed, name) {
		return account{}, fmt.Errorf("user %q is not in this agent's --shell-users (%s)", name, strings.Join(allowed, ","))
	}
	u, err := user.Lookup(name)
	if err != nil {
		return account{}, fmt.Errorf("user %q: %v", name, err)
	}
	if u.Uid != m.self.Uid && !m.root {
		return account{}, fmt.Errorf("the agent runs as %s, not root: it starts sessions as %s only", m.self.Username, m.self.Username)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return account{}, fmt.Errorf("user %q: ids %s:%s are not numbers", name, u.Uid, u.Gid)
	}
	a := account{name: u.Username, uid: uint32(uid), gid: uint32(gid), home: u.HomeDir, shell: loginShell(name), other: u.Uid != m.self.Uid}
	if a.other {
		gids, err := u.GroupIds()
		if err != nil {
			return account{}, fmt.Errorf("user %q: groups: %v", name, err)
		}
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				a.groups = append(a.groups, uint32(n))
			}
		}
	}
	return a, nil
}

// passwdFile is where loginShell reads a user's shell, which os/user does
// not tell.
var passwdFile = "/etc/passwd"

// loginShell returns name's shell from the passwd file, /bin/sh when it
// says none or has no entry (a user of another name service).
func loginShell(name string) string {
	f, err := os.Open(passwdFile)
	if err != nil {
		return "/bin/sh"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) == 7 && fields[0] == name && fields[6] != "" {
			return fields[6]
		}
	}
	return "/bin/sh"
}

// path is the PATH of a session: that of a login on most systems.
func (a account) path() string {
	if a.uid == 0 {
		return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return "/usr/local/bin:/usr/bin:/bin"
}

// env returns the clean environment of a session as a; term "" sets no
// TERM.
func (a account) env(term string) []string {
	env := []string{"HOME=" + a.home, "USER=" + a.name, "LOGNAME=" + a.name, "SHELL=" + a.shell, "PATH=" + a.path()}
	if term != "" {
		env = append(env, "TERM="+term)
	}
	return env
}

// lookPath finds file in the directories of path, not the agent's PATH.
func lookPath(file, path string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in %s", file, path)
}
