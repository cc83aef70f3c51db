package lua

import (
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

func TestFormatBytes(t *testing.T) {
	for n, want := range map[float64]string{
		0: "0 B", 512: "512 B", 1536: "1.5 KiB", 5 << 30: "5.0 GiB", 3 << 60: "3.0 EiB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%v) = %q, want %q", n, got, want)
		}
	}
}

func TestCheckModule(t *testing.T) {
	L := newModState(t, nil)
	tests := []checkChunk{
		{"return check.OK, check.WARNING, check.CRITICAL, check.UNKNOWN", "ok warning critical unknown"},
		{"return check.code('ok'), check.code('warning'), check.code('critical'), check.code('unknown')", "0 1 2 3"},
		{"return check.status(0), check.status(1), check.status(2), check.status(3), check.status(4), check.status(-1), check.status(1.5)",
			"ok warning critical unknown unknown unknown unknown"},
		{"return check.worst(), check.worst('ok'), check.worst('ok', 'unknown'), check.worst('unknown', 'warning', 'ok'), check.worst('warning', nil, 'critical')",
			"ok ok unknown warning critical"},
		{"return check.bytes(2048)", "2.0 KiB"},
		{"return check.round(18.461255130612724, 2), check.round(2.5), check.round(-1.23456, 3)", "18.46 3 -1.235"},
		{"local ms, err = check.perfdata(\"'a b'=1ms;2;3 c=x\") return #ms, ms[1].name, ms[1].value, ms[1].unit, ms[1].warn, ms[1].crit, ms[1].min, err ~= nil",
			"1 a b 1 ms 2 3 nil true"},
		{"local ms = check.perfdata('x=1.5;1:2;@3:4') return ms[1].warn, ms[1].warn_range, ms[1].crit, ms[1].crit_range",
			"nil 1:2 nil @3:4"},
		{"local ms, err = check.perfdata('a=U;5 b=2') return #ms, ms[1].name, ms[1].value, ms[1].unknown, ms[1].warn, ms[1].warn_range, ms[2].unknown, err",
			"2 a nil true 5 5 nil nil"},
		{"local o, err = check.plugin_output('DISK OK | a=1\\n/ 41%\\n/home 3% | b=U;1:2\\n') return o.message, o.long_output, #o.metrics, o.metrics[2].crit, err",
			"DISK OK / 41%\n/home 3% 2 nil nil"},
		{"local o, err = check.plugin_output('') return o.message, o.long_output, #o.metrics, err", "  0 nil"},
		{"local ms, err = check.perfdata('') return #ms, err", "0 nil"},
	}
	checkChunks(t, L, tests)
}

func TestCheckModuleMisuse(t *testing.T) {
	L := newModState(t, nil)
	for _, chunk := range []string{
		"check.worst('fine')",
		"check.code('bad')",
	} {
		refused(t, L, chunk)
	}
}

// checkChunk is a chunk of Lua that requires check, and the values it
// returns, written with spaces between them.
type checkChunk struct{ chunk, want string }

func checkChunks(t *testing.T, L *glua.LState, tests []checkChunk) {
	t.Helper()
	for _, tt := range tests {
		vals := evalLua(t, L, "local check = require('check') "+tt.chunk)
		got := make([]string, len(vals))
		for i, v := range vals {
			got[i] = v.String()
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s\n got %q\nwant %q", tt.chunk, strings.Join(got, " "), tt.want)
		}
	}
}

// refused fails t unless the chunk, run after requiring check, raises.
func refused(t *testing.T, L *glua.LState, chunk string) {
	t.Helper()
	if _, err := tryLua(L, "local check = require('check') "+chunk); err == nil {
		t.Errorf("%s was not refused", chunk)
	}
}
