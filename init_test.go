package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// maxInitBytes is the most a package of this module may allocate when the
// program starts: a table or two, never a parse or a compile. Every
// command of the executable, `helen run` once per check included, pays
// for every package's start, whether it uses the package or not.
const maxInitBytes = 16 << 10

// initLine is a line of GODEBUG=inittrace=1: the package, and what its
// start allocated.
var initLine = regexp.MustCompile(`^init (\S+) @\S+ ms, \S+ ms clock, (\d+) bytes, \d+ allocs$`)

// makeBuildTags returns the build tags of the Makefile's build, which the
// release's (.goreleaser.yaml) are.
func makeBuildTags(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "BUILDTAGS :="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestInitLean builds equus as `make build` does and checks what starting
// it costs every command: no package of this module does more than set up
// a table at start (the dashboard's template, say, is parsed when a helen
// first serves it), and urfave/cli's markdown and man page writers, which
// no command runs and whose packages build their tables at start, are not
// in the executable, nor is the Prometheus client.
func TestInitLean(t *testing.T) {
	tags := makeBuildTags(t)
	bin := filepath.Join(t.TempDir(), "equus")
	cmd := exec.Command(goTool(t), "build", "-tags", tags, "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %q: %v\n%s", tags, err, out)
	}

	deps := run(t, ".", goTool(t), "version", "-m", bin)
	for _, pkg := range []string{"github.com/cpuguy83/go-md2man", "github.com/russross/blackfriday"} {
		if strings.Contains(deps, pkg) {
			t.Errorf("make build links %s (build tags %q)", pkg, tags)
		}
	}
	// The Prometheus client registers its collectors, compiles procfs's
	// regular expressions and sets up protobuf's types when the program
	// starts, about 0.7 ms of every command; helen's /metrics is written
	// with github.com/VictoriaMetrics/metrics instead.
	for _, mod := range []string{"github.com/prometheus/client_golang", "github.com/prometheus/procfs", "google.golang.org/protobuf"} {
		if strings.Contains(deps, "\tdep\t"+mod+"\t") {
			t.Errorf("equus links %s, which every command pays for at start", mod)
		}
	}

	start := exec.Command(bin, "version")
	start.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var trace strings.Builder
	start.Stderr = &trace
	if err := start.Run(); err != nil {
		t.Fatalf("equus version: %v\n%s", err, trace.String())
	}
	const module = "github.com/equus-monitoring/equus"
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(trace.String()))
	for sc.Scan() {
		m := initLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		seen++
		pkg := m[1]
		if pkg != module && !strings.HasPrefix(pkg, module+"/") {
			continue
		}
		if n, _ := strconv.Atoi(m[2]); n > maxInitBytes {
			t.Errorf("package %s allocates %d bytes at start, more than %d", pkg, n, maxInitBytes)
		}
	}
	if seen == 0 {
		t.Fatalf("GODEBUG=inittrace=1 traced no package:\n%s", trace.String())
	}
}
