package lua

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/result"
)

// libraryNames are the checks the embedded library must have.
var libraryNames = []string{"cpu", "disk", "dns", "file", "http", "load", "memory",
	"nagios", "network", "process", "swap", "tcp", "uptime"}

// newLibraryRuntime opens a runtime on the embedded library alone.
func newLibraryRuntime(t testing.TB, execDirs ...string) *Runtime {
	t.Helper()
	rt, err := New(Options{Exec: ExecPolicy{Dirs: execDirs}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return rt
}

func TestLibraryEmbedded(t *testing.T) {
	rt := newLibraryRuntime(t)
	infos := map[string]CheckInfo{}
	for _, c := range rt.Checks() {
		infos[c.Name] = c
	}
	for _, name := range libraryNames {
		c, ok := infos[name]
		switch {
		case !ok:
			t.Errorf("the embedded library has no check %q", name)
		case c.Err != "" || c.Source != sourceEmbedded || c.Description == "":
			t.Errorf("check %s: source %q, description %q, error %q", name, c.Source, c.Description, c.Err)
		}
	}
}

func TestLibraryThroughRuntime(t *testing.T) {
	srv, caFile := newTLSTestServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("data"), 0o600)
	plugins := t.TempDir()
	writeScript(t, filepath.Join(plugins, "check_fake"), "echo 'FAKE WARNING - hmm | x=1;2;3'; exit 1")
	rt := newLibraryRuntime(t, plugins)
	q := strconv.Quote
	sleep := luaQuote(strings.Join(startSleep(t).Args, " "))
	tests := []struct {
		check, args string
		status      result.Status // "" for any but unknown
		message     string
		metric      string
	}{
		{"load", ``, "", "load ", "load1"},
		{"cpu", `{"interval_ms": 20}`, "", "busy", "cpu"},
		{"memory", `{}`, "", "memory", "used_percent"},
		{"swap", `{}`, "", "swap", ""},
		{"disk", `{"path": "/"}`, "", "/ ", "used_percent"},
		{"disk", `{"path": "/", "crit": "@0:100"}`, result.Critical, "/ ", "used_percent"},
		{"uptime", `{"min": 60}`, "", "up ", "uptime"},
		{"process", `{"pattern": ` + q(sleep) + `}`, result.OK, "1 process matching", "procs"},
		{"process", `{"pattern": ` + q(luaQuote(os.Args[0])) + `}`, result.Critical, "0 processes", "procs"},
		{"network", `{"interface": "lo"}`, result.OK, "lo rx", "lo_bytes_recv"},
		{"file", `{"path": ` + q(file) + `, "max_age": 600, "min_size": 4}`, result.OK, "4 B", "age"},
		{"tcp", `{"address": ` + q(ln.Addr().String()) + `}`, result.OK, "connected", "time"},
		{"http", `{"url": ` + q(srv.URL+"/echo") + `, "ca_file": ` + q(caFile) + `, "expect": [201]}`, result.OK, "HTTP 201", "time"},
		{"dns", `{"name": "localhost"}`, result.OK, "localhost is", "addresses"},
		{"nagios", `{"plugin": "check_fake"}`, result.Warning, "FAKE WARNING - hmm", "x"},
		{"nagios", `{"plugin": "/bin/sh"}`, result.Unknown, "plain file name", ""},
		{"process", `{}`, result.Unknown, "name or pattern", ""},
	}
	for _, tt := range tests {
		t.Run(tt.check, func(t *testing.T) {
			doc := rt.Run(context.Background(), tt.check, []byte(tt.args))
			t.Logf("%s %s: %s", tt.check, tt.args, doc.Line())
			if (tt.status == "" && doc.Status == result.Unknown) || (tt.status != "" && doc.Status != tt.status) {
				t.Errorf("status %s (%s), want %q", doc.Status, doc.Message, tt.status)
			}
			if !strings.Contains(doc.Message, tt.message) {
				t.Errorf("message %q does not contain %q", doc.Message, tt.message)
			}
			if tt.metric == "" {
				return
			}
			for _, m := range doc.Metrics {
				if m.Name == tt.metric {
					return
				}
			}
			t.Errorf("no metric %q in %v", tt.metric, doc.Metrics)
		})
	}
}

func TestLibraryNagiosThroughRuntime(t *testing.T) {
	requirePlugins(t, "check_dummy", "check_load")
	rt := newLibraryRuntime(t, pluginDir)
	doc := rt.Run(context.Background(), "nagios", []byte(`{"plugin":"check_load","args":["-w","5,4,3","-c","10,8,6"]}`))
	t.Log(doc.Line())
	if doc.Status == result.Unknown || !strings.Contains(doc.Message, "load average") || len(doc.Metrics) != 3 {
		t.Errorf("check_load: %s", doc.Line())
	}
	doc = rt.Run(context.Background(), "nagios", []byte(`{"plugin":"check_dummy","args":["2","it is down"]}`))
	if doc.Status != result.Critical || doc.Message != "it is down" {
		t.Errorf("check_dummy 2: %s", doc.Line())
	}
}

// benchmarkRun measures the runs of one check through the runtime, one
// after another, and reports them per second.
func benchmarkRun(b *testing.B, rt *Runtime, check, args string) {
	b.ReportAllocs()
	ctx := context.Background()
	doc := rt.Run(ctx, check, []byte(args))
	if doc.Status == result.Unknown {
		b.Fatalf("%s: %s", check, doc.Line())
	}
	for b.Loop() {
		rt.Run(ctx, check, []byte(args))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

func BenchmarkLibraryLoad(b *testing.B) {
	benchmarkRun(b, newLibraryRuntime(b), "load", "")
}

func BenchmarkLibraryLoadParallel(b *testing.B) {
	rt := newLibraryRuntime(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rt.Run(context.Background(), "load", nil)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

func BenchmarkLibraryNagiosDummy(b *testing.B) {
	if _, err := os.Stat(filepath.Join(pluginDir, "check_dummy")); err != nil {
		if os.Getenv("EQUUS_REQUIRE_PLUGINS") == "1" {
			b.Fatal(err)
		}
		b.Skip("check_dummy not installed (apt-get install monitoring-plugins-basic)")
	}
	benchmarkRun(b, newLibraryRuntime(b, pluginDir), "nagios", `{"plugin":"check_dummy","args":["0","fine"]}`)
}
