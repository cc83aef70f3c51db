package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/pki"
)

// scriptFile is the bootstrap script as it is written, which helen serves
// with its update key and platforms filled in.
const scriptFile = "../modes/helen/agentapi/bootstrap.sh"

var pubkeyPinRE = regexp.MustCompile(`sha256//[A-Za-z0-9+/=]+`)

// shell runs a command line with sh and the test's environment, with env
// added, and returns its output and exit status.
func shell(t *testing.T, line string, env ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Env = append(testEnv(t), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("$ %s\n%s", line, strings.TrimSpace(string(out)))
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("sh -c %q: %v", line, err)
	return "", 0
}

// fakeTools writes shell scripts named as commands into a directory and
// returns the PATH entry that puts them first.
func fakeTools(t *testing.T, tools map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range tools {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return "PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

// tree lists the files and directories under root, "" when it is empty.
func tree(t *testing.T, root string) string {
	t.Helper()
	var list []string
	err := filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if path != root {
			rel, _ := filepath.Rel(root, path)
			list = append(list, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(list, " ")
}

// otherPin is a curl pin of a key that no server here has.
func otherPin(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "sha256//" + base64.StdEncoding.EncodeToString(b)
}

// cuttingServer serves the first half of script at /bootstrap.sh, over TLS
// with a certificate of its own, announcing the whole length, and then
// breaks the connection: a download cut short. It returns its address and
// the curl pin of its key.
func cuttingServer(t *testing.T, script []byte) (string, string) {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("cutting helen", now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServer([]string{"127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(script)))
		w.Write(script[:len(script)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	srv.TLS = pki.ServerConfig(ca, cert, []string{"http/1.1"})
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://"), pki.PublicKeyPin(cert.Leaf)
}

// The join command fails, and installs nothing, when the script cannot be
// downloaded: a pin that is not helen's key, a helen that is not there, a
// download cut short. ("curl | sh" exited 0 in all three: sh ran the empty,
// or the half, script it was given.)
func TestJoinCommandFailsWithDownload(t *testing.T) {
	t.Parallel()
	needBootstrapTools(t)
	h := startHelen(t, built[v110])
	join := h.token(t).Join
	pin := pubkeyPinRE.FindString(join)
	if pin == "" {
		t.Fatalf("no curl pin in the join command: %s", join)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	script, err := os.ReadFile(scriptFile)
	if err != nil {
		t.Fatal(err)
	}
	cutAddr, cutPin := cuttingServer(t, script)

	for _, tt := range []struct {
		name, join, wantOut string
	}{
		{"wrong-pin", strings.ReplaceAll(join, pin, otherPin(t)), "pinned"},
		{"unreachable", strings.ReplaceAll(join, h.addr, closed), "Failed to connect"},
		{"cut", strings.ReplaceAll(strings.ReplaceAll(join, h.addr, cutAddr), pin, cutPin), "transfer closed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			out, code := shell(t, tt.join+" --name "+agentName+" --prefix "+root+" --no-start")
			if code == 0 || !strings.Contains(out, tt.wantOut) {
				t.Errorf("join command: exit %d, printed %q; want a failure saying %q", code, out, tt.wantOut)
			}
			if left := tree(t, root); left != "" {
				t.Errorf("installed: %s", left)
			}
		})
	}
}

// servedScript returns the bootstrap script helen serves, fetched as the
// join command fetches it.
func servedScript(t *testing.T, h *helen, join string) []byte {
	t.Helper()
	cmd := exec.Command("curl", "-fsS", "--insecure", "--pinnedpubkey", pubkeyPinRE.FindString(join), "https://"+h.addr+"/bootstrap.sh")
	cmd.Env = testEnv(t)
	script, err := cmd.Output()
	if err != nil {
		t.Fatalf("fetch the bootstrap script: %v", err)
	}
	return script
}

// A copy of the script cut short anywhere, run as "curl | sh" runs it, does
// nothing: no download, no file. Checked at every line's end and middle;
// the whole script, with the same fake curl, does download, so the check
// can tell.
func TestBootstrapCutRunsNothing(t *testing.T) {
	t.Parallel()
	needBootstrapTools(t)
	h := startHelen(t, built[v110])
	tok := h.token(t)
	script := servedScript(t, h, tok.Join)
	dir := t.TempDir()
	marker := filepath.Join(dir, "curl-ran")
	path := fakeTools(t, map[string]string{"curl": "echo \"$@\" >> " + marker + "\nexit 22"})
	args := "--helen " + h.addr + " --ca-pin " + h.pin + " --pubkey-pin 'sha256//x' --token " + tok.Token + " --no-start --prefix "

	run := func(t *testing.T, part []byte) (string, string) {
		root := t.TempDir()
		cut := filepath.Join(dir, "cut.sh")
		if err := os.WriteFile(cut, part, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", "sh -s -- "+args+root+" < "+cut)
		cmd.Env = append(testEnv(t), path)
		out, _ := cmd.CombinedOutput()
		return string(out), tree(t, root)
	}

	var cuts []int
	for i, b := range script {
		if b == '\n' {
			cuts = append(cuts, i+1)
		}
	}
	for i, n := 0, len(cuts); i+1 < n; i++ {
		cuts = append(cuts, (cuts[i]+cuts[i+1])/2)
	}
	cuts = append(cuts, 0, 1)
	for _, n := range cuts {
		if n >= len(script) {
			continue
		}
		out, files := run(t, script[:n])
		_, err := os.Stat(marker)
		if files != "" || err == nil || strings.Contains(out, "bootstrap: downloading") {
			t.Fatalf("the script cut after %d of %d bytes (%q) did something: files %q, curl ran: %v, printed %q",
				n, len(script), lastLine(script[:n]), files, err == nil, out)
		}
	}
	t.Logf("%d cuts of the %d-byte script ran nothing", len(cuts), len(script))

	// The whole script: curl runs (and fails), which the check sees.
	out, _ := run(t, script)
	if _, err := os.Stat(marker); err != nil || !strings.Contains(out, "download from "+h.addr+" failed") {
		t.Errorf("the whole script with the fake curl: curl ran: %v, printed %q", err == nil, out)
	}
}

func lastLine(b []byte) string {
	b = bytes.TrimRight(b, "\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}

// An option without its value, or with another option in its place, is a
// usage error that names it, before anything is done; a value that merely
// begins with "--", as a token may, is a value.
func TestBootstrapMissingValue(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args, want string
		code       int
	}{
		{"--helen", "--helen needs a value", 2},
		{"--ca-pin sha256:00 --helen", "--helen needs a value", 2},
		{"--helen '' --ca-pin x", "--helen needs a value", 2},
		{"--helen h:1 --name --prefix /x", "--name needs a value, not the option --prefix", 2},
		{"--prefix", "--prefix needs a value", 2},
		{"--helen h:1 --bogus", "unknown option --bogus", 2},
		// Parsed whole: the script as written offers no platform.
		{"--helen h:1 --ca-pin x --pubkey-pin y --token --Xy_z --prefix .", "helen offers no equus binary", 1},
	} {
		root := t.TempDir()
		out, code := shell(t, "cd "+root+" && sh "+absPath(t, scriptFile)+" "+tt.args)
		if code != tt.code || !strings.Contains(out, "bootstrap: "+tt.want) {
			t.Errorf("bootstrap %s: exit %d, printed %q; want exit %d saying %q", tt.args, code, out, tt.code, tt.want)
		}
		if left := tree(t, root); left != "" {
			t.Errorf("bootstrap %s left %s", tt.args, left)
		}
	}
}

func absPath(t *testing.T, path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// A machine whose platform helen has no binary for is refused before
// anything is downloaded or written, with the platforms helen has.
func TestBootstrapRefusesPlatform(t *testing.T) {
	t.Parallel()
	needBootstrapTools(t)
	h := startHelen(t, built[v110])
	tok := h.token(t)
	for _, tt := range []struct{ s, m, want string }{
		{"FreeBSD", "amd64", "helen has no equus binary for freebsd/amd64, only for "},
		{"Linux", "i686", "helen has no equus binary for linux/386, only for "},
		{"Darwin", "x86_64", "helen has no equus binary for darwin/amd64, only for "},
		{"SunOS", "i86pc", "unsupported OS SunOS"},
		{"Linux", "mips", "unsupported architecture mips"},
	} {
		t.Run(tt.s+"-"+tt.m, func(t *testing.T) {
			t.Parallel()
			// The uname of another machine; curl must not be reached
			// after the script's own download.
			path := fakeTools(t, map[string]string{"uname": `case $1 in -s) echo ` + tt.s + ` ;; -m) echo ` + tt.m + ` ;; *) exit 1 ;; esac`})
			root := t.TempDir()
			out, code := shell(t, tok.Join+" --name "+agentName+" --prefix "+root+" --no-start", path)
			if code != 1 || !strings.Contains(out, "bootstrap: "+tt.want) || strings.Contains(out, "downloading") {
				t.Errorf("exit %d, printed %q; want exit 1 saying %q before any download", code, out, tt.want)
			}
			if left := tree(t, root); left != "" {
				t.Errorf("installed: %s", left)
			}
		})
	}
}

// Running the join command again, with a new token and without --name,
// keeps the name and what was edited by hand in equus.conf, and sets the
// new token.
func TestBootstrapRerunKeepsConfig(t *testing.T) {
	t.Parallel()
	needBootstrapTools(t)
	h := startHelen(t, built[v110])
	root := t.TempDir()
	first := h.token(t)
	if out, code := shell(t, first.Join+" --name "+agentName+" --prefix "+root+" --no-start"); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, out)
	}
	conf := filepath.Join(root, "etc", "equus", "equus.conf")
	edited := readFile(conf) + "# plugins of our own\nexec-dir = /opt/plugins\nconcurrency: 8\n"
	if err := os.WriteFile(conf, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}

	second := h.token(t)
	if out, code := shell(t, second.Join+" --prefix "+root+" --no-start"); code != 0 {
		t.Fatalf("second run: exit %d: %s", code, out)
	}
	got := readFile(conf)
	for _, want := range []string{
		"name = " + agentName, "token = " + second.Token, "helen = " + h.addr, "ca-pin = " + h.pin,
		"# plugins of our own", "exec-dir = /opt/plugins", "concurrency: 8",
	} {
		if !strings.Contains(got, "\n"+want+"\n") {
			t.Errorf("equus.conf lacks %q:\n%s", want, got)
		}
	}
	for _, key := range []string{"token", "helen", "data", "name"} {
		if n := regexp.MustCompile(`(?m)^`+key+` *[=:]`).FindAllStringIndex(got, -1); len(n) != 1 {
			t.Errorf("equus.conf sets %s %d times:\n%s", key, len(n), got)
		}
	}
	if strings.Contains(got, first.Token) {
		t.Errorf("the first token is still there:\n%s", got)
	}
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("equus.conf: %v %v, want mode 0600", fi, err)
	}
}

// The script writes a unit of its own where systemd is and no package is,
// and none where the equus package is installed: it configures the
// package's, and takes away the unit and binary an earlier run installed,
// which shadowed the package's. --uninstall (added to the join command)
// removes what it installed and keeps the data directory; --purge removes
// that too.
func TestBootstrapUnitAndUninstall(t *testing.T) {
	t.Parallel()
	needBootstrapTools(t)
	h := startHelen(t, built[v110])
	root := t.TempDir()
	units := filepath.Join(root, "etc", "systemd", "system")
	if err := os.MkdirAll(units, 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(units, "equus.service")
	bin := filepath.Join(root, "usr", "local", "bin", "equus")
	conf := filepath.Join(root, "etc", "equus", "equus.conf")
	data := filepath.Join(root, "var", "lib", "equus")

	if out, code := shell(t, h.token(t).Join+" --name "+agentName+" --prefix "+root+" --no-start"); code != 0 {
		t.Fatalf("join: exit %d: %s", code, out)
	}
	u := readFile(unit)
	if !strings.Contains(u, "ExecStart="+bin+" --config "+conf+" stage0\n") || !strings.HasPrefix(u, "# written by the equus bootstrap script\n") {
		t.Errorf("unit:\n%s", u)
	}

	// The equus package is installed now, and the command run again.
	pkgUnit := filepath.Join(root, "usr", "lib", "systemd", "system", "equus.service")
	pkgBin := filepath.Join(root, "usr", "bin", "equus")
	for path, content := range map[string][]byte{pkgUnit: []byte("[Service]\nExecStart=/usr/bin/equus --config /etc/equus/equus.conf stage0\n"), pkgBin: mustRead(t, built[v110])} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, content, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tok := h.token(t)
	out, code := shell(t, tok.Join+" --prefix "+root+" --no-start")
	if code != 0 || !strings.Contains(out, "the equus package is installed") {
		t.Fatalf("join with the package: exit %d: %s", code, out)
	}
	for _, gone := range []string{unit, bin} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s still there beside the package's", gone)
		}
	}
	if c := readFile(conf); !strings.Contains(c, "token = "+tok.Token+"\n") || !strings.Contains(c, "name = "+agentName+"\n") {
		t.Errorf("config with the package:\n%s", c)
	}
	if strings.Contains(out, "downloading") {
		t.Error("downloaded a binary beside the package's")
	}

	// --uninstall: the package's files stay, and so does the data.
	if err := os.WriteFile(filepath.Join(data, "agent.pem"), []byte("a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = shell(t, tok.Join+" --uninstall --prefix "+root)
	if code != 0 || !strings.Contains(out, "equus package is still installed") || !strings.Contains(out, "--uninstall: ignoring --helen --ca-pin --pubkey-pin --token") {
		t.Fatalf("--uninstall: exit %d: %s", code, out)
	}
	if _, err := os.Stat(conf); err == nil {
		t.Error("the config it wrote is still there")
	}
	for _, kept := range []string{pkgUnit, pkgBin, filepath.Join(data, "agent.pem")} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("%s is gone: %v", kept, err)
		}
	}

	// Without the package: a fresh install, then --purge.
	for _, p := range []string{pkgUnit, pkgBin} {
		os.Remove(p)
	}
	if out, code := shell(t, h.token(t).Join+" --name "+agentName+" --prefix "+root+" --no-start"); code != 0 {
		t.Fatalf("join: exit %d: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(data, "agent.pem")); err != nil {
		t.Errorf("the data directory kept by --uninstall was not reused: %v", err)
	}
	out, code = shell(t, "sh "+absPath(t, scriptFile)+" --purge --prefix "+root)
	if code != 0 {
		t.Fatalf("--purge: exit %d: %s", code, out)
	}
	for _, gone := range []string{unit, bin, conf, data} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s still there after --purge", gone)
		}
	}
	if left := tree(t, root); left != "etc etc/systemd etc/systemd/system usr usr/bin usr/lib usr/lib/systemd usr/lib/systemd/system usr/local usr/local/bin var var/lib" {
		t.Errorf("left after --purge: %s", left)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The join command takes more helens (a --helen more for each, as a join
// command of helens that share a store names them): the script downloads
// from the first, writes them all to equus.conf as one list, and stage0
// and its agent, run from that config, reach helen whichever they dial
// first, the other address refusing connections. A --helen that is no
// HOST:PORT is a usage error.
func TestBootstrapHelens(t *testing.T) {
	t.Parallel()
	needBootstrapTools(t)
	h := startHelen(t, built[v110])
	tok := h.token(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	root := t.TempDir()
	out, code := shell(t, tok.Join+" --helen "+gone+" --helen "+h.addr+" --name "+agentName+" --prefix "+root+" --no-start")
	if code != 0 || !strings.Contains(out, "downloading equus for ") || !strings.Contains(out, " from "+h.addr+"\n") {
		t.Fatalf("join command with two helens: exit %d, %s", code, out)
	}
	confPath := filepath.Join(root, "etc", "equus", "equus.conf")
	conf := readFile(confPath)
	if !strings.Contains(conf, "\nhelen = "+h.addr+","+gone+"\n") {
		t.Errorf("equus.conf does not list both helens, each once:\n%s", conf)
	}
	installed := filepath.Join(root, "usr", "local", "bin", "equus")
	startProc(t, "installed stage0", installed, "--config", confPath, "stage0")
	h.agentReady(t, agentName, v110, time.Minute)

	for _, bad := range []string{"helen.example", "a b:1", "h:1,x'y:2"} {
		r := t.TempDir()
		out, code := shell(t, "sh "+absPath(t, scriptFile)+" --helen h:1 --helen '"+strings.ReplaceAll(bad, "'", `'\''`)+"' --ca-pin x --pubkey-pin y --prefix "+r)
		if code != 2 || !strings.Contains(out, "want HOST:PORT") {
			t.Errorf("--helen %q: exit %d, %q; want a usage error", bad, code, out)
		}
		if left := tree(t, r); left != "" {
			t.Errorf("--helen %q left %s", bad, left)
		}
	}
}
