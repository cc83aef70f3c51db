package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/wire"
)

// TestRolloutAcceptsAgentThatStaysOld: an agent asked to reload that comes
// back at the same version (its stage0 rolled the release back) is
// accepted, not locked out by reload after reload.
func TestRolloutAcceptsAgentThatStaysOld(t *testing.T) {
	h := startHelen(t, Config{Version: "2.0.0"})
	cert := agentCert(t, h.srv, "web-1")
	rc := dialRaw(t, h, cert, []string{wire.ALPN})
	rc.Write("hello 1 1.0.0\n")
	if got, err := rc.ReadAll(); err != nil || string(got) != "reload\n" {
		t.Fatalf("first hello: helen sent %q (%v), want reload", got, err)
	}
	a := startAgentWith(t, h, "web-1", cert, behavior{Version: "1.0.0"})
	a.Ready() // helen accepted it: equus.info came first
	for _, m := range a.Received() {
		if m.Kind == wire.KindReload {
			t.Fatal("the agent that came back at its old version got reload again")
		}
	}
	// Another agent at the same old version still gets its one reload.
	rc = dialRaw(t, h, agentCert(t, h.srv, "web-2"), []string{wire.ALPN})
	rc.Write("hello 1 1.0.0\n")
	if got, err := rc.ReadAll(); err != nil || string(got) != "reload\n" {
		t.Fatalf("other agent: helen sent %q (%v), want reload", got, err)
	}
}

// TestRolloutConnectedAgents: when a newer release appears, agents already
// connected are asked to reload, each once.
func TestRolloutConnectedAgents(t *testing.T) {
	releases := t.TempDir()
	h := startHelen(t, Config{Version: "1.0.0", ReleasesDir: releases, RolloutSpread: 200 * time.Millisecond, offersRecheck: 20 * time.Millisecond})

	a := startAgent(t, h, "web-1", behavior{Version: "1.0.0"})
	a.Ready()

	bin := []byte("#!/bin/sh\necho equus 2.0.0\n")
	name := fmt.Sprintf("equus_2.0.0_%s_%s", runtime.GOOS, runtime.GOARCH)
	sum := sha256.Sum256(bin)
	if err := os.WriteFile(filepath.Join(releases, name), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	checksums := hex.EncodeToString(sum[:]) + "  " + name + "\n"
	if err := os.WriteFile(filepath.Join(releases, "checksums.txt"), []byte(checksums), 0o644); err != nil {
		t.Fatal(err)
	}
	poll(t, "reload sent to the connected agent", func() bool {
		for _, m := range a.Received() {
			if m.Kind == wire.KindReload {
				return true
			}
		}
		return false
	})
}
