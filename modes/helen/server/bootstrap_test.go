package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The bootstrap script helen serves names the platforms of the release on
// offer, so that it refuses another platform before it downloads; with no
// release on offer it names none.
func TestBootstrapPlatforms(t *testing.T) {
	releases := t.TempDir()
	var sums strings.Builder
	for _, p := range []string{"linux_arm64", "darwin_arm64", "linux_amd64"} {
		bin := []byte("#!/bin/sh\necho equus 2.0.0 " + p + "\n")
		name := "equus_2.0.0_" + p
		if err := os.WriteFile(filepath.Join(releases, name), bin, 0o755); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(bin)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	if err := os.WriteFile(filepath.Join(releases, "checksums.txt"), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"release", Config{ReleasesDir: releases}, "helen_platforms='darwin/arm64 linux/amd64 linux/arm64'\n"},
		{"own-binary", Config{}, fmt.Sprintf("helen_platforms='%s/%s'\n", runtime.GOOS, runtime.GOARCH)},
		{"no-update", Config{UpdateDisabled: true}, "helen_platforms=''\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := startHelen(t, tt.cfg)
			code, script := get(t, httpsClient(t, h, nil), h, "/bootstrap.sh")
			if code != http.StatusOK || !bytes.Contains(script, []byte("\n"+tt.want)) || bytes.Count(script, []byte("helen_platforms='")) != 1 {
				t.Errorf("GET /bootstrap.sh: %d, want the line %q in it", code, tt.want)
			}
			if !bytes.HasSuffix(script, []byte("\nmain \"$@\"\n")) {
				t.Error("the script does not end by calling main")
			}
		})
	}
}
