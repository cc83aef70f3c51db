package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
)

// updateKey is a minisign key pair of a test, its public half also in a
// file as the minisign tool writes it.
type updateKey struct {
	pub  minisign.PublicKey
	priv minisign.PrivateKey
	file string
}

func newUpdateKey(t *testing.T) updateKey {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := pub.MarshalText()
	file := filepath.Join(t.TempDir(), "minisign.pub")
	if err := os.WriteFile(file, append(text, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return updateKey{pub: pub, priv: priv, file: file}
}

// sign returns the signature of data the way the minisign tool makes it
// by default (pre-hashed).
func (k updateKey) sign(t *testing.T, data []byte) []byte {
	t.Helper()
	r := minisign.NewReader(bytes.NewReader(data))
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	return r.Sign(k.priv)
}

// signedRelease writes a releases folder with the raw binary of version,
// listed in checksums.txt, and its signature by k.
func signedRelease(t *testing.T, version string, k updateKey) (dir, name string) {
	t.Helper()
	bin, err := os.ReadFile(built[version])
	if err != nil {
		t.Fatal(err)
	}
	dir, name = t.TempDir(), releaseName(version, "")
	writeRelease(t, dir, map[string][]byte{name: bin}, nil)
	if err := os.WriteFile(filepath.Join(dir, name+".minisig"), k.sign(t, bin), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, name
}

// needBootstrapTools skips a test of the bootstrap script where curl or
// OpenSSL 3 (which checks the signatures) is missing, and fails it in CI.
func needBootstrapTools(t *testing.T) {
	t.Helper()
	missing := ""
	if _, err := exec.LookPath("curl"); err != nil {
		missing = "curl"
	} else if out, err := exec.Command("openssl", "version").Output(); err != nil || !strings.HasPrefix(string(out), "OpenSSL 3") {
		missing = "OpenSSL 3"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is needed for the bootstrap test and is missing", missing)
	}
	t.Skipf("%s not installed: the bootstrap script test needs it", missing)
}

// bootstrap runs a join command with more options, into a fresh --prefix
// without starting anything, and returns the prefix, the output and how
// it ended.
func bootstrap(t *testing.T, join string, more ...string) (string, string, error) {
	t.Helper()
	root := t.TempDir()
	args := append([]string{"--name", agentName, "--prefix", root, "--no-start"}, more...)
	cmd := exec.Command("sh", "-c", join+" "+strings.Join(args, " "))
	cmd.Env = testEnv(t)
	out, err := cmd.CombinedOutput()
	t.Logf("bootstrap: %s", strings.TrimSpace(string(out)))
	return root, string(out), err
}

// A helen with an update key prints a join command that carries the key
// and serves a bootstrap script that has it: the script installs the
// binary only after checking its signature with it (with OpenSSL), and
// writes it into the agent's config, so that the installed stage0 takes
// only signed updates and bundles; the agent then runs.
func TestBootstrapSigned(t *testing.T) {
	t.Parallel()
	needBootstrapTools(t)
	k := newUpdateKey(t)
	rel, _ := signedRelease(t, v110, k)
	h := startHelen(t, built[v110], "--releases="+rel, "--update-key="+k.file)
	tok := h.token(t)
	if !strings.Contains(tok.Join, "--update-key '"+k.pub.String()+"'") {
		t.Fatalf("join command without the update key: %s", tok.Join)
	}
	root, out, err := bootstrap(t, tok.Join)
	if err != nil {
		t.Fatalf("join command: %v\n%s", err, out)
	}
	if !strings.Contains(out, "signature verified with the update key") {
		t.Error("bootstrap did not say it verified the signature")
	}
	installed := filepath.Join(root, "usr", "local", "bin", "equus")
	if got, want := sha256File(t, installed), sha256File(t, built[v110]); got != want {
		t.Errorf("installed binary sha256 %s, helen's %s", got, want)
	}
	conf := filepath.Join(root, "etc", "equus", "equus.conf")
	if !strings.Contains(readFile(conf), "update-key = "+k.pub.String()+"\n") {
		t.Errorf("equus.conf lacks the update key:\n%s", readFile(conf))
	}
	s := startProc(t, "installed stage0", installed, "--config", conf, "stage0")
	h.agentReady(t, agentName, v110, time.Minute)
	if s.count(fmt.Sprintf("update_key=%X", k.pub.ID())) != 1 || s.count("trusting helen") != 0 {
		t.Error("the installed stage0 did not start with the update key from its config")
	}
}

// The bootstrap script with an update key installs nothing from a helen
// that serves a binary without a signature, one signed by another key, or
// one changed after it was signed (its checksum rewritten to match): a
// helen without a key of its own, which serves what is in a releases
// folder someone else wrote.
func TestBootstrapRefusesUnsigned(t *testing.T) {
	t.Parallel()
	needBootstrapTools(t)
	k := newUpdateKey(t)
	other := newUpdateKey(t)
	bin, err := os.ReadFile(built[v110])
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(bin)
	tampered[len(tampered)/2] ^= 0x01
	for _, tt := range []struct {
		name    string
		bin     []byte
		sig     []byte
		wantOut string
	}{
		{"unsigned", bin, nil, "helen serves no signature of the binary"},
		{"other-key", bin, other.sign(t, bin), "signature does not verify with the update key"},
		{"tampered", tampered, k.sign(t, bin), "signature does not verify with the update key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rel, name := t.TempDir(), releaseName(v110, "")
			writeRelease(t, rel, map[string][]byte{name: tt.bin}, nil)
			if tt.sig != nil {
				if err := os.WriteFile(filepath.Join(rel, name+".minisig"), tt.sig, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			h := startHelen(t, built[v110], "--releases="+rel)
			tok := h.token(t)
			if strings.Contains(tok.Join, "--update-key") {
				t.Fatalf("a helen without a key printed one: %s", tok.Join)
			}
			root, out, err := bootstrap(t, tok.Join, "--update-key", "'"+k.pub.String()+"'")
			if err == nil || !strings.Contains(out, tt.wantOut) {
				t.Errorf("bootstrap: %v, printed %q; want a failure saying %q", err, out, tt.wantOut)
			}
			if _, err := os.Stat(filepath.Join(root, "usr", "local", "bin", "equus")); err == nil {
				t.Error("a binary was installed")
			}
			if _, err := os.Stat(filepath.Join(root, "etc", "equus", "equus.conf")); err == nil {
				t.Error("a config was written")
			}
		})
	}
}

// A stage0 with an update key takes a signed release from helen, and
// refuses an unsigned one, keeping its binary.
func TestStage0SignedUpdate(t *testing.T) {
	t.Parallel()
	k := newUpdateKey(t)
	t.Run("signed", func(t *testing.T) {
		t.Parallel()
		rel, _ := signedRelease(t, v110, k)
		h := startHelen(t, built[v110], "--releases="+rel, "--update-key="+k.file)
		data := filepath.Join(t.TempDir(), "agent")
		s := startStage0(t, installAgent(t, v100), data, h, "--update-key", k.pub.String())
		h.agentReady(t, agentName, v110, 2*time.Minute)
		if got := versionOf(t, agentBinary(data)); got != v110 {
			t.Errorf("agent binary on disk is %s, want %s", got, v110)
		}
		if s.count("agent updated") != 1 || s.count("trusting helen") != 0 {
			t.Errorf("stage0 logged %d updates and %d trust warnings, want 1 and none", s.count("agent updated"), s.count("trusting helen"))
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		t.Parallel()
		rel := t.TempDir()
		bin, err := os.ReadFile(built[v110])
		if err != nil {
			t.Fatal(err)
		}
		writeRelease(t, rel, map[string][]byte{releaseName(v110, ""): bin}, nil)
		h := startHelen(t, built[v110], "--releases="+rel)
		data := filepath.Join(t.TempDir(), "agent")
		s := startStage0(t, installAgent(t, v100), data, h, "--update-key", k.pub.String())
		poll(t, "stage0 to refuse the unsigned binary", time.Minute, func() bool {
			return s.count("update refused, keeping the current version") > 0
		})
		if !strings.Contains(s.output(), "bad signature") {
			t.Error("stage0 did not say the signature is missing")
		}
		if got, want := sha256File(t, agentBinary(data)), sha256File(t, built[v100]); got != want {
			t.Errorf("agent binary changed: sha256 %s, was %s", got, want)
		}
	})
}
