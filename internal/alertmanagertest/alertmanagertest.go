// Package alertmanagertest starts a real Alertmanager (Debian's
// prometheus-alertmanager) for a test, on a free loopback port with its
// own configuration and storage, and reads the alerts it holds.
package alertmanagertest

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
	"github.com/equus-monitoring/equus/internal/procgroup"
	"github.com/equus-monitoring/equus/internal/wait"
)

// Binary returns the path of Alertmanager's executable, or skips the test
// when there is none (fails it with EQUUS_REQUIRE_ALERTMANAGER=1, as CI
// sets).
func Binary(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("EQUUS_REQUIRE_ALERTMANAGER") == "1" {
		t.Fatal("no prometheus-alertmanager on PATH, and EQUUS_REQUIRE_ALERTMANAGER=1 (apt-get install prometheus-alertmanager)")
	}
	t.Skip("no prometheus-alertmanager on PATH (apt-get install prometheus-alertmanager); EQUUS_REQUIRE_ALERTMANAGER=1 makes this a failure")
	return ""
}

// Start runs a real Alertmanager on a free loopback port with its own
// configuration and storage, without clustering, until the test ends, and
// returns its URL.
func Start(t testing.TB) string {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "alertmanager.yml")
	err := os.WriteFile(config, []byte("route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// The port is free when asked and taken a moment later; another
	// process may take it in between, and then Alertmanager exits and
	// is started again on another.
	for try := 0; try < 3; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		out := &logtest.Buffer{}
		cmd := exec.Command(bin, "--config.file="+config, "--storage.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
		cmd.Stdout, cmd.Stderr = out, out
		procgroup.Apart(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			procgroup.End(cmd)
			<-exited
		})
		url := "http://" + addr
		ready := false
		wait.Until(t, "alertmanager to be ready", 30*time.Second, 20*time.Millisecond, func() bool {
			select {
			case <-exited:
				return true
			default:
			}
			resp, err := http.Get(url + "/-/ready")
			if err != nil {
				return false
			}
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
			return ready
		})
		if ready {
			return url
		}
		t.Logf("alertmanager on %s exited: %s", addr, out.String())
	}
	t.Fatal("alertmanager did not start")
	return ""
}

// Alert is an alert as Alertmanager lists it.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// Alerts returns the alerts of the Alertmanager at url (GET
// /api/v2/alerts): those active, silenced or inhibited, not those
// resolved.
func Alerts(t testing.TB, url string) []Alert {
	t.Helper()
	resp, err := http.Get(url + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []Alert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
