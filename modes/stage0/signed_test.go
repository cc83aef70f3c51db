package stage0

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/equus-monitoring/equus/update"
)

func newKeyPair(t *testing.T) (minisign.PublicKey, minisign.PrivateKey) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// A hostile helen, one that serves whatever is in a releases directory
// someone else could write and describes it truly in its offer: a stage0
// with an update key refuses a binary without a signature, one signed by
// another key, and one changed after it was signed, keeps its old binary
// and says why in its log. In the tampered case helen's SHA-256 and size
// describe the changed file, so only the signature tells.
func TestUpgradeHostileHelen(t *testing.T) {
	skipWithoutShell(t)
	pub, priv := newKeyPair(t)
	_, other := newKeyPair(t)
	old := agentScript("1.0.0", readyBody("1.0.0"))
	good := agentScript("1.1.0", readyBody("1.1.0"))
	evil := agentScript("1.1.0", "touch pwned\n"+readyBody("1.1.0"))
	for _, tt := range []struct {
		name string
		// bin is what helen serves and describes in its offer, sig the
		// signature it offers with it.
		bin, sig []byte
		wantLog  string
	}{
		{"unsigned", good, nil, "offer signature"},
		{"other-key", good, minisign.Sign(other, good), "bad signature"},
		{"tampered", evil, minisign.Sign(priv, good), "bad signature"},
		{"signature-garbage", good, []byte("untrusted comment: x\nnot base64\n"), "bad signature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHelen(t)
			h.offerBinary("1.1.0", tt.bin)
			h.change(func(h *fakeHelen) { h.offer.Signature = string(tt.sig) })
			a := newTestAgent(t, h, old)
			cfg := a.config(t, h, "1.0.0")
			cfg.UpdateKey = &pub
			rec := &logRecorder{}
			s := newSupervisor(cfg, testLogger(t, rec))
			client, err := s.client(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer client.CloseIdleConnections()
			if ch := s.upgrade(context.Background(), client); ch != nil {
				ch.stop(time.Second)
				t.Fatal("installed a binary its update key did not sign")
			}
			if !bytes.Equal(a.binary(t), old) {
				t.Errorf("binary changed to:\n%s", a.binary(t))
			}
			if rec.count("update refused, keeping the current version") != 1 || rec.count(tt.wantLog) == 0 {
				t.Errorf("no log line saying the update was refused for %q", tt.wantLog)
			}
			if rec.count("trusting helen") != 0 {
				t.Error("a stage0 with a key said it trusts helen")
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(a.agent), ".equus-download-*")); len(left) > 0 {
				t.Errorf("downloads left behind: %v", left)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(a.agent), "pwned")); err == nil {
				t.Error("the refused binary ran")
			}
		})
	}
}

// A stage0 without an update key takes a binary that matches helen's
// checksum, and says at every update that it trusts helen for it.
func TestUpgradeWithoutKeyWarns(t *testing.T) {
	skipWithoutShell(t)
	h := newFakeHelen(t)
	a := newTestAgent(t, h, agentScript("1.0.0", readyBody("1.0.0")))
	rec := &logRecorder{}
	s := newSupervisor(a.config(t, h, "1.0.0"), testLogger(t, rec))
	client, err := s.client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	for i, version := range []string{"1.1.0", "1.2.0"} {
		bin := agentScript(version, readyBody(version))
		h.offerBinary(version, bin)
		ch := s.upgrade(context.Background(), client)
		if ch == nil {
			t.Fatalf("update to %s refused", version)
		}
		ch.stop(time.Second)
		if !bytes.Equal(a.binary(t), bin) {
			t.Fatalf("binary is not %s", version)
		}
		if n := rec.count("no --update-key: trusting helen for the new binary"); n != i+1 {
			t.Errorf("after %d updates, %d trust warnings", i+1, n)
		}
	}
}

// bundleOf packs files as helen packs a check directory, with their
// manifest signed by priv when priv is not nil; edit changes the folder
// after signing.
func bundleOf(t *testing.T, files map[string]string, priv *minisign.PrivateKey, edit func(dir string)) ([]byte, string) {
	t.Helper()
	dir := t.TempDir()
	var names []string
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if priv != nil {
		sort.Strings(names)
		var m strings.Builder
		for _, name := range names {
			sum := sha256.Sum256([]byte(files[name]))
			m.WriteString(hex.EncodeToString(sum[:]) + "  " + name + "\n")
		}
		if err := os.WriteFile(filepath.Join(dir, update.BundleManifest), []byte(m.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, update.BundleSignature), minisign.Sign(*priv, []byte(m.String())), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(dir)
	}
	data, sum, err := update.PackBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	return data, sum
}

// A stage0 with an update key installs a check bundle whose manifest the
// key signed, and keeps the bundle it has, saying why, when helen serves
// one unsigned, signed by another key, with a file changed after signing
// or with a file the manifest does not list. Without a key it takes an
// unsigned bundle and says that it trusts helen for it.
func TestSyncBundleSigned(t *testing.T) {
	pub, priv := newKeyPair(t)
	_, other := newKeyPair(t)
	first := map[string]string{"one.lua": "return function() return {status = 'ok'} end\n"}
	next := map[string]string{"one.lua": "-- v2\nreturn function() return {status = 'ok'} end\n", "two.lua": "return function() end\n"}
	write := func(name, body string) func(dir string) {
		return func(dir string) { os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644) }
	}
	tests := []struct {
		name    string
		key     bool
		priv    *minisign.PrivateKey
		edit    func(dir string)
		wantErr string // "" when installed
		wantLog string
	}{
		{"signed", true, &priv, nil, "", "its manifest signed by the update key"},
		{"unsigned", true, nil, nil, "no SHA256SUMS", ""},
		{"other-key", true, &other, nil, "does not verify", ""},
		{"tampered", true, &priv, write("two.lua", "os.exit(1)"), "two.lua: sha256", ""},
		{"extra-file", true, &priv, write("evil.lua", "return function() end"), "evil.lua is not in SHA256SUMS", ""},
		{"unsigned-no-key", false, nil, nil, "", "check bundle installed on helen's word"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHelen(t)
			a := newTestAgent(t, h, []byte("#!/bin/sh\n"))
			cfg := a.config(t, h, "1.0.0")
			if tt.key {
				cfg.UpdateKey = &pub
			}
			rec := &logRecorder{}
			s := newSupervisor(cfg, testLogger(t, rec))
			client, err := s.client(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer client.CloseIdleConnections()

			data, sum := bundleOf(t, first, &priv, nil)
			h.change(func(h *fakeHelen) { h.bundle, h.bundleSum, h.bundleCode = data, sum, http.StatusOK })
			if changed, err := s.syncBundle(context.Background(), client); !changed || err != nil {
				t.Fatalf("first, signed bundle: changed %v, %v", changed, err)
			}

			data, sum = bundleOf(t, next, tt.priv, tt.edit)
			h.change(func(h *fakeHelen) { h.bundle, h.bundleSum = data, sum })
			changed := s.installBundle(context.Background(), client)
			dir := filepath.Join(a.data, "checks")
			if tt.wantErr == "" {
				if !changed || rec.count(tt.wantLog) == 0 {
					t.Errorf("changed %v; want the bundle installed, logging %q", changed, tt.wantLog)
				}
				if got, _ := os.ReadFile(filepath.Join(dir, "two.lua")); string(got) != next["two.lua"] {
					t.Errorf("two.lua: %q", got)
				}
				return
			}
			if changed {
				t.Error("a refused bundle counted as a change")
			}
			if rec.count("check bundle not synced; keeping the current one") != 1 || rec.count(tt.wantErr) != 1 {
				t.Errorf("no log line of the refusal saying %q", tt.wantErr)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "one.lua")); string(got) != first["one.lua"] {
				t.Errorf("one.lua after the refusal: %q, want the old one", got)
			}
			for _, name := range []string{"two.lua", "evil.lua"} {
				if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
					t.Errorf("%s installed from a refused bundle", name)
				}
			}
		})
	}
}
