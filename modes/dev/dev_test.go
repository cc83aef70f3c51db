package dev

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
)

// TestServeDev builds the real binary, runs `helen serve --dev`, and reads
// its terminal: the banner, then a first result of the local agent within
// 15 s. The helen commands reach it through its data directory, and
// Ctrl-C stops it all and removes the data directory.
func TestServeDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "equus")
	build := exec.Command("go", "build", "-o", bin, "github.com/equus-monitoring/equus")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	devTmp := filepath.Join(tmp, "tmp")
	if err := os.Mkdir(devTmp, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "helen", "serve", "--dev", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TMPDIR="+devTmp)
	cmd.Stderr = logtest.Writer{T: t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			go func() {
				for range lines {
				}
			}()
			cmd.Process.Kill()
			<-exited
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()

	var dataDir, token, dashboard string
	dataRE := regexp.MustCompile(`^\s+data\s+(\S+)`)
	dashboardRE := regexp.MustCompile(`^\s+console\s+(https://\S+/) `)
	tokenRE := regexp.MustCompile(`Bearer (\S+)\)`)
	deadline := time.After(15 * time.Second)
	var first string
	for first == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("helen serve --dev ended early: %v", <-exited)
			}
			t.Log(line)
			if m := dataRE.FindStringSubmatch(line); m != nil {
				dataDir = m[1]
			}
			if m := dashboardRE.FindStringSubmatch(line); m != nil {
				dashboard = m[1]
			}
			if m := tokenRE.FindStringSubmatch(line); m != nil {
				token = m[1]
			}
			if strings.Contains(line, "  "+devAgent+"  ") && strings.Contains(line, "NEW -> ") {
				first = line
			}
		case <-deadline:
			t.Fatal("no first result within 15 s")
		}
	}
	t.Logf("first result after %v", time.Since(start).Round(time.Millisecond))
	if dataDir == "" || !strings.HasPrefix(dataDir, devTmp) || token == "" || dashboard == "" {
		t.Fatalf("banner: data dir %q (want under %s), token %q, dashboard %q", dataDir, devTmp, token, dashboard)
	}
	out, err := exec.Command(bin, "helen", "status", "--data", dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), devAgent) {
		t.Errorf("helen status: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "helen", "schedule", "list", "--data", dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "uptime") {
		t.Errorf("helen schedule list: %v\n%s", err, out)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range lines {
		}
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("helen serve --dev after Ctrl-C: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("helen serve --dev did not stop after Ctrl-C")
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("data directory %s left behind: %v", dataDir, err)
	}
}
