package helen

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/state"
)

// diskDoc is what the nagios check makes of check_disk's output with long
// output: the lines after the first, a threshold range, an unknown value.
const diskDoc = `{"status":"warning","message":"DISK WARNING - free space: / 3326 MB (9%);",` +
	`"long_output":"/ 15272 MB (77%);\n/boot\t68 MB (69%);",` +
	`"metrics":[{"name":"/","value":2643,"unit":"MB","warn_range":"1:2","crit_range":"@3:4"},{"name":"it's","value":null}],` +
	`"duration_ms":1.5}`

// diskArgs are args that have the fake agent answer with diskDoc.
var diskArgs = `{"doc":` + diskDoc + `}`

// TestLongOutputShown: the long output of a result is kept, and shown by
// helen run (as a plugin prints it), helen history (with --long, indented
// under the message; without, as a count of lines), the API and the
// dashboard.
func TestLongOutputShown(t *testing.T) {
	h := startHelen(t, server.Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	data := "--data=" + h.dir

	out, code := helenCLI(t, "run", data, "web-1", "nagios", diskArgs)
	want := "WARNING: DISK WARNING - free space: / 3326 MB (9%); | /=2643MB;1:2;@3:4 'it''s'=U\n" +
		"/ 15272 MB (77%);\n/boot\t68 MB (69%);\n"
	if code != 1 || out != want {
		t.Errorf("helen run: exit %d, printed\n%s\nwant exit 1 and\n%s", code, out, want)
	}
	out, code = helenCLI(t, "run", data, "--json", "web-1", "nagios", diskArgs)
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 || doc["long_output"] != "/ 15272 MB (77%);\n/boot\t68 MB (69%);" {
		t.Errorf("helen run --json: exit %d, %s (%v)", code, out, err)
	}

	out, code = helenCLI(t, "history", data, "web-1", "nagios")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasSuffix(lines[1], "free space: / 3326 MB (9%); (+2 lines)") || strings.Contains(out, "15272") {
		t.Errorf("helen history: exit %d, printed\n%s\nwant two rows saying (+2 lines)", code, out)
	}
	out, code = helenCLI(t, "history", data, "--long", "web-1", "nagios")
	lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 7 {
		t.Fatalf("helen history --long: exit %d, printed\n%s\nwant two rows of two lines under each", code, out)
	}
	col := strings.Index(lines[1], "DISK WARNING")
	for i, want := range []string{"/ 15272 MB (77%);", "/boot   68 MB (69%);"} {
		if line := lines[2+i]; strings.TrimSpace(line[:min(col+2, len(line))]) != "" || line[min(col+2, len(line)):] != want {
			t.Errorf("helen history --long: line %q, want %q under the message (column %d)", line, want, col+2)
		}
	}

	// The API: the history's results and the status of a schedule.
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "disks", Check: "nagios", Every: 50 * time.Millisecond, Args: json.RawMessage(diskArgs)}); err != nil {
		t.Fatal(err)
	}
	poll(t, "a status of disks", func() bool { return len(h.srv.Statuses(false)) == 1 })
	c := newOpsClient(t, h)
	for _, path := range []string{"/v1/history?agent=web-1&check=nagios&limit=1", "/v1/status"} {
		var got []map[string]json.RawMessage
		c.Get(path, &got)
		if len(got) != 1 {
			t.Fatalf("GET %s: %d items", path, len(got))
		}
		if l := string(got[0]["long_output"]); l != `"/ 15272 MB (77%);\n/boot\t68 MB (69%);"` {
			t.Errorf("GET %s: long_output %s", path, l)
		}
		var ms []map[string]any
		json.Unmarshal(got[0]["metrics"], &ms)
		if len(ms) != 2 || ms[0]["warn_range"] != "1:2" || ms[0]["crit_range"] != "@3:4" || ms[0]["warn"] != nil || ms[1]["value"] != nil {
			t.Errorf("GET %s: metrics %s, want the ranges as written and the unknown value null", path, got[0]["metrics"])
		}
		if v, ok := ms[1]["value"]; !ok || v != nil {
			t.Errorf("GET %s: metric 2 value %v (present %v), want null", path, v, ok)
		}
	}

	// The dashboard: the long output in a details element under the
	// message, escaped.
	b := browser(t, h)
	resp, _ := b.Page(http.MethodPost, "/login", url.Values{"token": {b.Token}}, nil)
	if len(resp.Cookies()) != 1 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	_, body := b.Page(http.MethodGet, "/", nil, resp.Cookies()[0])
	wantHTML := `<details><summary>DISK WARNING - free space: / 3326 MB (9%);</summary><pre>/ 15272 MB (77%);` + "\n/boot\t68 MB (69%);</pre></details>"
	if !strings.Contains(body, wantHTML) {
		t.Errorf("dashboard lacks %q", wantHTML)
	}
}
