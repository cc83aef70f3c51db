package helen

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/internal/logtest"

	"aead.dev/minisign"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/update"
)

// capturedLog keeps what a logger wrote, for tests that look at it.
type capturedLog struct{ logtest.Buffer }

// has reports whether a line holds every one of parts.
func (l *capturedLog) has(parts ...string) bool {
	for line := range strings.SplitSeq(l.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// loggingTo returns a logger writing to the test log and to l.
func loggingTo(t *testing.T, l *capturedLog) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.MultiWriter(logtest.Writer{T: t}, l), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newUpdateKey(t *testing.T) (*minisign.PublicKey, minisign.PrivateKey) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &pub, priv
}

func sum256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The join command that helen prints, online and offline, and the
// bootstrap script it serves carry its update key, so that the machines
// that join take only what the key signed; without a key they carry none.
func TestJoinCarriesUpdateKey(t *testing.T) {
	key, _ := newUpdateKey(t)
	for _, tt := range []struct {
		name string
		key  *minisign.PublicKey
	}{
		{"key", key},
		{"no-key", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := startHelen(t, server.Config{UpdateKey: tt.key})
			flag, line := "--update-key", "helen_update_key=''\n"
			if tt.key != nil {
				flag = fmt.Sprintf("--update-key '%s'", tt.key.String())
				line = fmt.Sprintf("helen_update_key='%s'\n", tt.key.String())
			}
			out, code := helenCLI(t, "token", "--data="+h.dir)
			if code != 0 || strings.Contains(out, flag) != (tt.key != nil) {
				t.Errorf("helen token: exit %d, printed %q; want the key in it: %v", code, out, tt.key != nil)
			}
			if got := h.srv.JoinCommand("TOKEN"); strings.Contains(got, "--update-key") != (tt.key != nil) {
				t.Errorf("join command: %s", got)
			}
			code, script := get(t, httpsClient(t, h, nil), h, "/bootstrap.sh")
			if code != http.StatusOK || !bytes.Contains(script, []byte("\n"+line)) || bytes.Count(script, []byte("helen_update_key='")) != 1 {
				t.Errorf("GET /bootstrap.sh: %d, want the line %q in it", code, line)
			}

			// Offline, helen token reads the key the last helen serve of
			// the data directory recorded.
			if err := server.RecordUpdateKey(h.dir, tt.key); err != nil {
				t.Fatal(err)
			}
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
			if err := h.srv.Close(); err != nil {
				t.Fatal(err)
			}
			out, code = helenCLI(t, "token", "--data="+h.dir)
			if code != 0 || strings.Contains(out, flag) != (tt.key != nil) {
				t.Errorf("helen token offline: exit %d, printed %q; want the key in it: %v", code, out, tt.key != nil)
			}
		})
	}
}

// server.RecordUpdateKey keeps the key a helen serves with, and forgets it when
// helen serves without one.
func TestRecordUpdateKey(t *testing.T) {
	key, _ := newUpdateKey(t)
	dir := t.TempDir()
	if k, err := server.RecordedUpdateKey(dir); k != nil || err != nil {
		t.Fatalf("before: %v, %v", k, err)
	}
	if err := server.RecordUpdateKey(dir, key); err != nil {
		t.Fatal(err)
	}
	if k, err := server.RecordedUpdateKey(dir); err != nil || k == nil || !k.Equal(*key) {
		t.Fatalf("recorded: %v, %v", k, err)
	}
	if err := server.RecordUpdateKey(dir, nil); err != nil {
		t.Fatal(err)
	}
	if k, err := server.RecordedUpdateKey(dir); k != nil || err != nil {
		t.Fatalf("after serving without: %v, %v", k, err)
	}
	if err := os.WriteFile(filepath.Join(dir, server.UpdateKeyFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := server.RecordedUpdateKey(dir); err == nil {
		t.Fatal("a garbled key file: no error")
	}
}

// release writes a releases folder offering bin as version 1.1.0 for this
// platform, listed in checksums.txt, with sig as its .minisig when not nil.
func release(t *testing.T, bin, sig []byte) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	name := fmt.Sprintf("equus_1.1.0_%s_%s", runtime.GOOS, runtime.GOARCH)
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if sig != nil {
		if err := os.WriteFile(path+".minisig", sig, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "checksums.txt"), []byte(sum256(bin)+"  "+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// Helen with an update key offers a release binary only when its
// signature verifies, says in its log why it offers none otherwise, and
// serves the signature to the bootstrap script; a binary changed on disk
// after it was verified is not served, with a log line.
func TestSignedReleases(t *testing.T) {
	key, priv := newUpdateKey(t)
	_, other := newUpdateKey(t)
	bin := []byte("#!/bin/sh\necho equus 1.1.0\n")
	platform := "?os=" + runtime.GOOS + "&arch=" + runtime.GOARCH
	for _, tt := range []struct {
		name    string
		sig     []byte
		wantLog string // "" when offered
	}{
		{"signed", minisign.Sign(priv, bin), ""},
		{"unsigned", nil, "no .minisig beside it"},
		{"other-key", minisign.Sign(other, bin), "does not verify with key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, path := release(t, bin, tt.sig)
			logs := &capturedLog{}
			h := startHelen(t, server.Config{ReleasesDir: dir, UpdateKey: key, Log: loggingTo(t, logs)})
			hc := httpsClient(t, h, agentCert(t, h.srv, "web-1"))
			code, body := get(t, hc, h, "/v1/update"+platform)
			if tt.wantLog != "" {
				if code != http.StatusServiceUnavailable {
					t.Errorf("GET /v1/update: %d %s, want 503", code, body)
				}
				if !logs.has("release file not offered", filepath.Base(path), tt.wantLog) {
					t.Errorf("no log line saying %q", tt.wantLog)
				}
				if code, _ := get(t, hc, h, "/v1/download/signature"+platform); code != http.StatusServiceUnavailable {
					t.Errorf("GET /v1/download/signature: %d, want 503", code)
				}
				return
			}
			var o update.Offer
			if err := json.Unmarshal(body, &o); code != http.StatusOK || err != nil {
				t.Fatalf("GET /v1/update: %d %s", code, body)
			}
			if o.SHA256 != sum256(bin) || !minisign.Verify(*key, bin, []byte(o.Signature)) {
				t.Errorf("offer %+v: not the signed binary", o)
			}
			code, sig := get(t, httpsClient(t, h, nil), h, "/v1/download/signature"+platform)
			if code != http.StatusOK || !bytes.Equal(sig, tt.sig) {
				t.Errorf("GET /v1/download/signature: %d %q", code, sig)
			}

			// One byte changed after helen verified it.
			changed := bytes.Clone(bin)
			changed[len(changed)-2] ^= 0x01
			if err := os.WriteFile(path, changed, 0o755); err != nil {
				t.Fatal(err)
			}
			code, body = get(t, httpsClient(t, h, nil), h, "/v1/download"+platform)
			if code == http.StatusOK {
				t.Errorf("GET /v1/download served the changed binary %q", body)
			}
			if !logs.has("release file changed on disk since it was verified", filepath.Base(path)) {
				t.Error("no log line saying the binary changed")
			}
			// Looked at again, the release is refused for the changed file.
			poll(t, "the changed release to be refused", func() bool {
				code, _ := get(t, hc, h, "/v1/update"+platform)
				return code == http.StatusServiceUnavailable && logs.has("release file not offered", "does not verify")
			})
		})
	}
}

// signedChecks writes a check folder and its manifest signed by priv.
func signedChecks(t *testing.T, priv minisign.PrivateKey) string {
	t.Helper()
	dir := t.TempDir()
	body := []byte("return function() return {status = 'ok'} end\n")
	manifest := []byte(sum256(body) + "  fresh.lua\n")
	for name, data := range map[string][]byte{
		"fresh.lua":            body,
		update.BundleManifest:  manifest,
		update.BundleSignature: minisign.Sign(priv, manifest),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Helen with an update key serves a check bundle only when the check
// directory's manifest is signed by it and lists its files: whoever can
// write the directory cannot get anything else to the agents.
func TestSignedBundle(t *testing.T) {
	key, priv := newUpdateKey(t)
	checks := signedChecks(t, priv)
	logs := &capturedLog{}
	h := startHelen(t, server.Config{ChecksDir: checks, UpdateKey: key, Log: loggingTo(t, logs)})
	hc := httpsClient(t, h, agentCert(t, h.srv, "web-1"))
	code, data := get(t, hc, h, "/v1/bundle")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/bundle of a signed directory: %d %s", code, data)
	}
	if err := update.VerifyBundle(data, key); err != nil {
		t.Errorf("the bundle served: %v", err)
	}

	// A check dropped into the directory, which the manifest does not
	// list.
	if err := os.WriteFile(filepath.Join(checks, "evil.lua"), []byte("return function() end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, hc, h, "/v1/bundle"); code != http.StatusInternalServerError {
		t.Errorf("GET /v1/bundle with a file the manifest lacks: %d %s", code, body)
	}
	if !logs.has("refused under --update-key", "evil.lua is not in SHA256SUMS") {
		t.Error("no log line saying why the bundle is refused")
	}
	// Unsigned altogether.
	os.Remove(filepath.Join(checks, "evil.lua"))
	os.Remove(filepath.Join(checks, update.BundleSignature))
	if code, _ := get(t, hc, h, "/v1/bundle"); code != http.StatusInternalServerError {
		t.Errorf("GET /v1/bundle of an unsigned directory: %d", code)
	}
	if !logs.has("refused under --update-key", "no SHA256SUMS.minisig") {
		t.Error("no log line saying the bundle is unsigned")
	}
}

// A key helen cannot read stops helen serve before it starts, saying why.
func TestServeBadUpdateKey(t *testing.T) {
	dir := t.TempDir()
	out, code := helenCLI(t, "serve", "--data="+dir, "--listen=127.0.0.1:0", "--http=", "--update-key=RWQnotakey")
	if code != setup.ExitConfig || !strings.Contains(out, "--update-key") {
		t.Fatalf("serve with a bad key: exit %d, printed %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, server.DBFile)); err == nil {
		t.Error("helen opened its database with a bad key")
	}
}
