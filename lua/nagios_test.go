package lua

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/result"
)

// TestNagiosPluginOutput runs plugins that print the shapes of output the
// Monitoring Plugins guidelines define through the library's nagios check:
// the lines after the first are the long output, the performance data
// after a second "|" joins the first line's, thresholds keep their ranges
// as written and a value "U" is unknown.
func TestNagiosPluginOutput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, output string
		code         int
		status       result.Status
		message      string
		long         string
		metrics      []string // the JSON of each metric in the result
	}{
		{name: "long-output-and-perfdata", code: 0, status: result.OK,
			output: "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n" +
				"/ 15272 MB (77%);\n/boot 68 MB (69%);\n/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n" +
				"/var/log=818MB;970;975;0;980\n",
			message: "DISK OK - free space: / 3326 MB (56%);",
			long:    "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/var/log 819 MB (84%);",
			metrics: []string{
				`{"name":"/","value":2643,"unit":"MB","warn":5948,"warn_range":"5948","crit":5958,"crit_range":"5958","min":0,"max":5968}`,
				`{"name":"/boot","value":68,"unit":"MB","warn":88,"warn_range":"88","crit":93,"crit_range":"93","min":0,"max":98}`,
				`{"name":"/var/log","value":818,"unit":"MB","warn":970,"warn_range":"970","crit":975,"crit_range":"975","min":0,"max":980}`,
			}},
		{name: "long-output-ranges-unknown", code: 2, status: result.Critical,
			output: "CRITICAL: 3 workers | workers=3;1:2;@3:4;0;\n" +
				"  worker 1 stuck\n  worker 2 stuck\n" +
				"| 'queue wait'=5s;~:10;10:;0 'it''s'=U;10;20 ratio=150%;;@100:\n",
			message: "3 workers",
			long:    "  worker 1 stuck\n  worker 2 stuck",
			metrics: []string{
				`{"name":"workers","value":3,"warn_range":"1:2","crit_range":"@3:4","min":0}`,
				`{"name":"queue wait","value":5,"unit":"s","warn_range":"~:10","crit_range":"10:","min":0}`,
				`{"name":"it's","value":null,"warn":10,"warn_range":"10","crit":20,"crit_range":"20"}`,
				`{"name":"ratio","value":150,"unit":"%","crit_range":"@100:","min":0,"max":100}`,
			}},
		{name: "long-output-no-perfdata", code: 1, status: result.Warning,
			output:  "WARNING - 2 updates\r\nopenssl 3.0.1\r\nlibc 2.36\r\n",
			message: "WARNING - 2 updates", long: "openssl 3.0.1\nlibc 2.36"},
		{name: "one-line", code: 0, status: result.OK,
			output: "OK - fine|t=0.5s;1;2\n", message: "OK - fine",
			metrics: []string{`{"name":"t","value":0.5,"unit":"s","warn":1,"warn_range":"1","crit":2,"crit_range":"2"}`}},
	}
	for _, tt := range tests {
		writeScript(t, filepath.Join(dir, "check_"+strings.ReplaceAll(tt.name, "-", "_")),
			"cat <<'EOF'\n"+tt.output+"EOF\nexit "+string(rune('0'+tt.code))+"\n")
	}
	rt := newLibraryRuntime(t, dir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, _ := json.Marshal(map[string]string{"plugin": "check_" + strings.ReplaceAll(tt.name, "-", "_")})
			doc := rt.Run(context.Background(), "nagios", args)
			var got struct {
				Status  result.Status     `json:"status"`
				Message string            `json:"message"`
				Long    string            `json:"long_output"`
				Metrics []json.RawMessage `json:"metrics"`
			}
			if err := json.Unmarshal(doc.Encode(0), &got); err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.status || got.Message != tt.message {
				t.Errorf("%s %q, want %s %q", got.Status, got.Message, tt.status, tt.message)
			}
			if got.Long != tt.long {
				t.Errorf("long output %q, want %q", got.Long, tt.long)
			}
			var metrics []string
			for _, m := range got.Metrics {
				metrics = append(metrics, string(m))
			}
			if strings.Join(metrics, "\n") != strings.Join(tt.metrics, "\n") {
				t.Errorf("metrics\n%s\nwant\n%s", strings.Join(metrics, "\n"), strings.Join(tt.metrics, "\n"))
			}
		})
	}
}

// TestNagiosRealLongOutput runs check_load with -n, which lists the
// processes using the most CPU after its first line: they are the long
// output of the result.
func TestNagiosRealLongOutput(t *testing.T) {
	requirePlugins(t, "check_load")
	rt := newLibraryRuntime(t, pluginDir)
	doc := rt.Run(context.Background(), "nagios", []byte(`{"plugin":"check_load","args":["-r","-n","3","-w","1000,1000,1000","-c","2000,2000,2000"]}`))
	var got struct {
		Message string `json:"message"`
		Long    string `json:"long_output"`
	}
	if err := json.Unmarshal(doc.Encode(0), &got); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%s", got.Message, got.Long)
	lines := strings.Split(got.Long, "\n")
	if doc.Status != result.OK || !strings.Contains(got.Message, "load average") || len(lines) < 2 ||
		!strings.Contains(lines[0], "PID") || !strings.Contains(lines[0], "COMMAND") {
		t.Errorf("check_load -n 3: %s %q, long output %q; want ok, the load, and a table of processes", doc.Status, got.Message, got.Long)
	}
}

// TestNagiosRealRanges runs check_procs with a range for warn and an
// inverted one for crit: the result keeps both as written, and neither
// becomes the number of its end.
func TestNagiosRealRanges(t *testing.T) {
	requirePlugins(t, "check_procs")
	rt := newLibraryRuntime(t, pluginDir)
	doc := rt.Run(context.Background(), "nagios", []byte(`{"plugin":"check_procs","args":["-w","1:100000","-c","@0:0","-C","no-such-command"]}`))
	var got struct {
		Metrics []json.RawMessage `json:"metrics"`
	}
	if err := json.Unmarshal(doc.Encode(0), &got); err != nil {
		t.Fatal(err)
	}
	want := `{"name":"procs","value":0,"warn_range":"1:100000","crit_range":"@0:0","min":0}`
	if doc.Status != result.Critical || len(got.Metrics) != 1 || string(got.Metrics[0]) != want {
		t.Errorf("check_procs: %s, metrics %s; want critical and %s", doc.Line(), got.Metrics, want)
	}
}
