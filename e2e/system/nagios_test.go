package system

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/wait"
)

// pluginDir is where Debian's monitoring-plugins packages install the
// plugins.
const pluginDir = "/usr/lib/nagios/plugins"

// TestNagiosLongOutput runs plugins on a real agent through the library's
// nagios check: check_queues of testdata (long output, more performance
// data after a second "|", ranges, U) and check_load -n, a real plugin
// that lists processes after its first line. The long output reaches the
// result that helen run prints (under the line, as a plugin prints it), the
// history and status of the API, and the thresholds /metrics, as written.
func TestNagiosLongOutput(t *testing.T) {
	plugins, err := filepath.Abs(filepath.Join("testdata", "plugins"))
	if err != nil {
		t.Fatal(err)
	}
	h := startHelen(t, t.TempDir(), freePort(t), freePort(t))
	start(t, "agent web-1", "equus", "--helen", h.listen, "--ca-pin", h.pin,
		"--token", h.token(t, 1), "--name", "web-1", "--data", t.TempDir(),
		"--exec-dir", plugins, "--exec-dir", pluginDir)
	h.waitConnected(t, "web-1", 30*time.Second)

	out, code := run(t, "helen", "run", "--data", h.data, "web-1", "nagios", `{"plugin":"check_queues"}`)
	want := "WARNING: QUEUES WARNING - 1 of 3 queues behind | " +
		"'queue mail'=12;1:10;@100:;0 'queue web'=U;1:10;@100:;0 'queue print'=0;1:10;@100:;0 'it''s late'=3s;~:2;5\n" +
		"queue mail: 12 waiting\nqueue web: not reachable\nqueue print: 0 waiting\n"
	if code != 1 || out != want {
		t.Errorf("helen run nagios check_queues: exit %d, printed\n%s\nwant exit 1 and\n%s", code, out, want)
	}

	if _, err := os.Stat(filepath.Join(pluginDir, "check_load")); err == nil {
		out, code = run(t, "helen", "run", "--data", h.data, "web-1", "nagios",
			`{"plugin":"check_load","args":["-r","-n","3","-w","1000,1000,1000","-c","2000,2000,2000"]}`)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || !strings.HasPrefix(out, "OK: LOAD OK") || len(lines) < 3 || !strings.Contains(lines[1], "COMMAND") {
			t.Errorf("helen run nagios check_load -n 3: exit %d, printed\n%s\nwant the load and a table of processes under it", code, out)
		}
	} else {
		t.Logf("check_load not installed (monitoring-plugins-basic): %v", err)
	}

	// The operators' API and /metrics, over TLS verified with helen's CA.
	api := newAPIClient(t, h)
	if out, code := run(t, "helen", "schedule", "add", "queues", "--data", h.data, "--check", "nagios",
		"--args", `{"plugin":"check_queues"}`, "--every", "1s"); code != 0 {
		t.Fatalf("helen schedule add: exit %d: %s", code, out)
	}
	var statuses []map[string]json.RawMessage
	wait.Until(t, "the status of the schedule", 30*time.Second, 100*time.Millisecond, func() bool {
		api.get(t, "/v1/status", &statuses)
		return len(statuses) > 0
	})
	var history []map[string]json.RawMessage
	api.get(t, "/v1/history?agent=web-1&check=nagios&limit=1", &history)
	for what, items := range map[string][]map[string]json.RawMessage{"status": statuses, "history": history} {
		if len(items) != 1 {
			t.Fatalf("/v1/%s: %d items", what, len(items))
		}
		if got := string(items[0]["long_output"]); got != `"queue mail: 12 waiting\nqueue web: not reachable\nqueue print: 0 waiting"` {
			t.Errorf("/v1/%s: long_output %s", what, got)
		}
		var ms []map[string]any
		json.Unmarshal(items[0]["metrics"], &ms)
		if len(ms) != 4 || ms[0]["warn_range"] != "1:10" || ms[0]["crit_range"] != "@100:" || ms[0]["warn"] != nil || ms[1]["value"] != nil {
			t.Errorf("/v1/%s: metrics %s", what, items[0]["metrics"])
		}
	}
	metrics := api.text(t, "/metrics")
	for _, series := range []string{
		`equus_check_metric_warn_low{agent="web-1",check="nagios",metric="queue_mail",range="1:10",schedule="queues",unit=""} 1`,
		`equus_check_metric_warn_high{agent="web-1",check="nagios",metric="queue_mail",range="1:10",schedule="queues",unit=""} 10`,
		`equus_check_metric_crit_low{agent="web-1",check="nagios",metric="queue_mail",range="@100:",schedule="queues",unit=""} 100`,
		`equus_check_metric_crit_high{agent="web-1",check="nagios",metric="it_s_late",range="5",schedule="queues",unit="s"} 5`,
		`equus_check_metric{agent="web-1",check="nagios",metric="queue_mail",schedule="queues",unit=""} 12`,
	} {
		if !strings.Contains(metrics, series+"\n") {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if strings.Contains(metrics, `equus_check_metric{agent="web-1",check="nagios",metric="queue_web"`) {
		t.Errorf("/metrics has a value for queue web, which the plugin could not determine")
	}
}

// apiClient reaches helen's operators' port with its admin token,
// verifying helen's certificate with its CA.
type apiClient struct {
	hc          *http.Client
	base, token string
}

func newAPIClient(t *testing.T, h *helen) *apiClient {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(h.data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("ca.pem holds no certificate")
	}
	token, err := os.ReadFile(filepath.Join(h.data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}, base: "https://" + h.http, token: strings.TrimSpace(string(token))}
}

// text returns the body of a GET of path, failing the test unless it is 200.
func (c *apiClient) text(t *testing.T, path string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v: %s", path, resp.StatusCode, err, body)
	}
	return string(body)
}

// get decodes the JSON of a GET of path into out.
func (c *apiClient) get(t *testing.T, path string, out any) {
	t.Helper()
	if err := json.Unmarshal([]byte(c.text(t, path)), out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}
