// Package packaging holds what the release packages install besides the
// binary: the systemd units and the default config files. Its tests check
// the units with systemd's own tools.
package packaging

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/setup"
)

// maxExposure is the highest `systemd-analyze security` exposure score
// (0 to 10, lower is safer) each unit may have, as measured with systemd
// 252: a change that loosens a unit fails until the bound is raised here,
// on purpose, with the reason in the unit's comments. The agent's score is
// high by design: it runs checks as root and replaces its own binary (see
// equus.service).
var maxExposure = map[string]float64{
	"helen.service": 1.1,
	"equus.service": 6.8,
}

// requireEnv makes a missing systemd-analyze a failure rather than a skip,
// as CI does.
const requireEnv = "EQUUS_REQUIRE_SYSTEMD"

// systemdAnalyze returns the path of systemd-analyze, or skips the test
// (fails it when requireEnv is 1) where there is none.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("systemd-analyze not found and %s=1: install systemd", requireEnv)
		}
		t.Skipf("systemd-analyze not found (Debian: apt-get install systemd); %s=1 makes this a failure", requireEnv)
	}
	return path
}

func analyze(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// verify runs systemd-analyze verify on the unit text, written to a
// directory of its own under its name. The executable the packages
// install is not on a build machine, and verify refuses a unit whose
// ExecStart= names no executable file, so /usr/bin/equus becomes the test
// binary, an executable that exists; nothing else changes. It returns
// what verify said: it exits 0 on an unknown key or a value it can't
// parse, ignoring the line, so any output at all is a finding.
func verify(t *testing.T, bin, name, text string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "ExecStart=/usr/bin/equus ") {
		t.Fatalf("%s: no ExecStart=/usr/bin/equus", name)
	}
	path := filepath.Join(t.TempDir(), name)
	text = strings.ReplaceAll(text, "ExecStart=/usr/bin/equus ", "ExecStart="+self+" ")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := analyze(t, bin, "verify", "--man=no", path)
	if err != nil && out == "" {
		out = err.Error()
	}
	return strings.TrimSpace(out)
}

func readUnit(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUnitsVerify checks that systemd parses every line of the units.
func TestUnitsVerify(t *testing.T) {
	bin := systemdAnalyze(t)
	for name := range maxExposure {
		t.Run(name, func(t *testing.T) {
			if out := verify(t, bin, name, readUnit(t, name)); out != "" {
				t.Errorf("systemd-analyze verify %s:\n%s", name, out)
			}
		})
	}
	// The check itself: a misspelt directive and a bad value, which
	// systemd ignores with a warning, are found.
	t.Run("finds-mistakes", func(t *testing.T) {
		text := strings.Replace(readUnit(t, "helen.service"), "ProtectSystem=strict", "ProtectSystem=strickt\nProtectSytem=strict", 1)
		out := verify(t, bin, "helen.service", text)
		for _, want := range []string{"ProtectSytem", "strickt"} {
			if !strings.Contains(out, want) {
				t.Errorf("verify of a broken unit does not mention %q:\n%s", want, out)
			}
		}
	})
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestUnitsExposure checks each unit's `systemd-analyze security` score
// against maxExposure.
func TestUnitsExposure(t *testing.T) {
	bin := systemdAnalyze(t)
	for name, max := range maxExposure {
		t.Run(name, func(t *testing.T) {
			out, err := analyze(t, bin, "security", "--offline=true", "--no-pager", name)
			m := exposureRE.FindStringSubmatch(out)
			if m == nil {
				if os.Getenv(requireEnv) != "1" && strings.Contains(out, "offline") {
					t.Skipf("this systemd-analyze has no --offline (systemd 250 and later): %s", out)
				}
				t.Fatalf("systemd-analyze security %s: %v, no overall exposure in:\n%s", name, err, out)
			}
			score, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: exposure %.1f (at most %.1f)", name, score, max)
			if score > max {
				t.Errorf("%s: exposure %.1f, more than %.1f: a change loosened the unit\n%s", name, score, max, out)
			}
		})
	}
}

// TestUnitsDoNotRestartUnconfigured checks that the units do not restart
// a mode that exited for its configuration: setup.ExitConfig is in their
// RestartPreventExitStatus=.
func TestUnitsDoNotRestartUnconfigured(t *testing.T) {
	want := strconv.Itoa(setup.ExitConfig)
	for name := range maxExposure {
		var codes []string
		for _, line := range strings.Split(readUnit(t, name), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "RestartPreventExitStatus="); ok {
				codes = append(codes, strings.Fields(v)...)
			}
		}
		if !slices.Contains(codes, want) {
			t.Errorf("%s: RestartPreventExitStatus= is %q, want it to hold %s (setup.ExitConfig)", name, codes, want)
		}
	}
}
