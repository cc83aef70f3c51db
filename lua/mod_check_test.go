package lua

import (
	"strings"
	"testing"
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
	tests := []struct{ chunk, want string }{
		{"return check.OK, check.WARNING, check.CRITICAL, check.UNKNOWN", "ok warning critical unknown"},
		{"return check.code('ok'), check.code('warning'), check.code('critical'), check.code('unknown')", "0 1 2 3"},
		{"return check.status(0), check.status(1), check.status(2), check.status(3), check.status(4), check.status(-1), check.status(1.5)",
			"ok warning critical unknown unknown unknown unknown"},
		{"return check.worst(), check.worst('ok'), check.worst('ok', 'unknown'), check.worst('unknown', 'warning', 'ok'), check.worst('warning', nil, 'critical')",
			"ok ok unknown warning critical"},
		{"return check.evaluate(5, 10, 20), check.evaluate(15, 10, 20), check.evaluate(25, '10', '20'), check.evaluate(0, nil, '1:'), check.evaluate(3, '1:')",
			"ok warning critical critical ok"},
		{"local r = check.range('@10:20') return r:alert(15), r:alert(25), tostring(r), r:limit()", "true false @10:20 nil"},
		{"return check.range('10'):limit(), check.range('0:10'):limit(), check.range('1:2'):limit()", "10 10 nil"},
		{"return check.evaluate(15, check.range('@10:20')), check.range(5):alert(6)", "warning true"},
		{"return check.limit('10:'), check.limit('~:7'), check.limit(3), check.limit('@0:3'), check.limit('5.000')", "nil nil 3 nil 5"},
		{"return check.bytes(2048)", "2.0 KiB"},
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

func TestCheckModuleMisuse(t *testing.T) {
	L := newModState(t, nil)
	for _, chunk := range []string{
		"check.range('20:10')",
		"check.range('abc')",
		"check.range({})",
		"check.evaluate(1, 'x')",
		"check.evaluate('high', 1, 2)",
		"check.worst('fine')",
		"check.code('bad')",
		"check.range('5').alert({}, 1)",
	} {
		if _, err := tryLua(L, "local check = require('check') "+chunk); err == nil {
			t.Errorf("%s was not refused", chunk)
		}
	}
}
