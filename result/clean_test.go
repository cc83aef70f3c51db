package result

import (
	"reflect"
	"strings"
	"testing"
)

// agentDocs are documents as agents write them (Encode), each of which
// parseClean must read itself.
func agentDocs() map[string][]byte {
	return map[string][]byte{
		"load": Doc{Status: OK, Message: "ok", Metrics: []Metric{{Name: "value", Value: 1}}, DurationMS: 0.01}.Encode(1 << 20),
		"full": Doc{Status: Warning, Message: "disk / 91% <used> & \"quoted\"\n", LongOutput: "/ 91%\n/home 12%", DurationMS: 0.25,
			Metrics: []Metric{
				{Name: "used", Value: 91, Unit: "%", Warn: f(90), WarnRange: "90", Crit: f(95), Min: f(0), Max: f(100)},
				{Name: "x", Value: -1.5, WarnRange: "1:2", CritRange: "@3:4"},
				{Name: "gone", Unknown: true, Unit: "s", Crit: f(3)},
			}}.Encode(1 << 20),
		"no-metrics": Doc{Status: Critical, Message: "down"}.Encode(1 << 20),
		"unicode":    Doc{Status: Unknown, Message: "température élevée \u2028 ✓"}.Encode(1 << 20),
		"spaced":     []byte(" {\n \"status\" : \"ok\" , \"message\":null, \"metrics\": [ ] , \"extra\": {\"a\":[1,2]} }\n"),
	}
}

// TestParseCleanReadsAgentDocs: the documents agents write are read in
// one pass, as parseChecked reads them, and with few allocations: the
// strings and metrics the document keeps, not a map and each field
// decoded twice.
func TestParseCleanReadsAgentDocs(t *testing.T) {
	for name, blob := range agentDocs() {
		t.Run(name, func(t *testing.T) {
			got, ok := parseClean(blob)
			if !ok {
				t.Fatalf("parseClean gave up on %s", blob)
			}
			if want := parseChecked(blob); !reflect.DeepEqual(got, want) {
				t.Fatalf("parseClean = %+v, parseChecked = %+v", got, want)
			}
		})
	}
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop parsers: allocations vary")
	}
	// The load tool's document: its message, its metric list and name.
	blob := agentDocs()["load"]
	if n := testing.AllocsPerRun(100, func() { Parse(blob) }); n > 3 {
		t.Errorf("Parse of %s: %v allocations, want at most 3", blob, n)
	}
}

// TestParseCleanGivesUp: documents whose reading parseClean cannot vouch
// for, or that have a problem, are left to parseChecked.
func TestParseCleanGivesUp(t *testing.T) {
	for _, blob := range []string{
		``, `null`, `[1]`, `"ok"`, `{"status":"ok"} x`, `{"status":"ok",}`,
		`{"message":"m"}`, `{"status":null}`, `{"status":"OK"}`, `{"status":1}`,
		`{"status":"ok","status":"critical"}`,
		`{"status":"ok","message":1}`, `{"status":"ok","long_output":[]}`,
		`{"status":"ok","message":"a\\b"}`, `{"status":"ok","message":"\ud800"}`, `{"status":"ok","message":"\ufffd"}`,
		"{\"status\":\"ok\",\"message\":\"\xff\"}",
		`{"status":"ok","duration_ms":"1"}`, `{"status":"ok","duration_ms":1e400}`, `{"status":"ok","duration_ms":NaN}`,
		`{"status":"ok","metrics":{}}`, `{"status":"ok","metrics":[1]}`, `{"status":"ok","metrics":[null]}`,
		`{"status":"ok","metrics":[{"name":"a"}]}`, `{"status":"ok","metrics":[{"value":1}]}`,
		`{"status":"ok","metrics":[{"name":"","value":1}]}`, `{"status":"ok","metrics":[{"name":null,"value":1}]}`,
		`{"status":"ok","metrics":[{"Name":"a","value":1}]}`, `{"status":"ok","metrics":[{"name":"a","value":1,"other":2}]}`,
		`{"status":"ok","metrics":[{"name":"a","value":1,"value":2}]}`,
		`{"status":"ok","metrics":[{"name":"a","value":"1"}]}`, `{"status":"ok","metrics":[{"name":"a","value":1,"warn":"4"}]}`,
		`{"status":"ok","metrics":[{"name":"a","value":1,"warn_range":"2:1"}]}`,
		`{"status":"ok","metrics":[{"name":"a","value":1,"crit_range":"` + strings.Repeat("1", 100) + `"}]}`,
	} {
		if d, ok := parseClean([]byte(blob)); ok {
			t.Errorf("parseClean read %s as %+v: it is parseChecked's", blob, d)
		}
	}
}

// FuzzParseClean: whatever parseClean reads, it reads as parseChecked
// does.
func FuzzParseClean(f *testing.F) {
	for _, blob := range agentDocs() {
		f.Add(blob)
	}
	f.Add([]byte(`{"status":"ok","metrics":[{"name":"a","value":null,"warn":1,"min":-0,"max":1E3}]}`))
	f.Add([]byte(`{"st\u0061tus":"ok","message":"\u00e9\n"}`))
	f.Fuzz(func(t *testing.T, blob []byte) {
		got, ok := parseClean(blob)
		if !ok {
			return
		}
		if want := parseChecked(blob); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseClean = %+v, parseChecked = %+v", blob, got, want)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	blob := agentDocs()["load"]
	b.ReportAllocs()
	for b.Loop() {
		Parse(blob)
	}
}

// BenchmarkParseChecked is the reading of a document field by field, that
// parseClean saves agents' documents.
func BenchmarkParseChecked(b *testing.B) {
	blob := agentDocs()["load"]
	b.ReportAllocs()
	for b.Loop() {
		parseChecked(blob)
	}
}
