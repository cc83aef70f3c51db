package lua

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

var (
	jsonUnmarshal     = json.Unmarshal
	errTimeoutRefused = errors.New("refused")
)

// TestParseArgsTimeoutOnly: the args helen sends a check with none of
// its own, {"_timeout_ms":N}, read without the decoder, give what the
// decoder gives; anything else near them is left to the decoder, which
// takes it or refuses it as before.
func TestParseArgsTimeoutOnly(t *testing.T) {
	rt := &Runtime{opts: Options{DefaultTimeout: 7 * time.Second}}
	for _, tc := range []struct {
		args string
		fast bool
	}{
		{`{"_timeout_ms":1}`, true},
		{`{"_timeout_ms":27000}`, true},
		{`{"_timeout_ms":86400000}`, true},
		{`{"_timeout_ms":86400001}`, false}, // over a day: refused
		{`{"_timeout_ms":0}`, false},        // refused
		{`{"_timeout_ms":012}`, false},      // not JSON
		{`{"_timeout_ms":-5}`, false},
		{`{"_timeout_ms":1.5}`, false},
		{`{"_timeout_ms":1e3}`, false},
		{`{"_timeout_ms":}`, false},
		{`{"_timeout_ms":5 }`, false},
		{`{"_timeout_ms":5,"x":1}`, false},
		{`{"_timeout_ms":5}}`, false},
		{`{"_timeout_ms":"5"}`, false},
		{`{"_timeout_ms":99999999999999999999}`, false},
	} {
		ms, fast := onlyTimeout([]byte(tc.args))
		if fast != tc.fast {
			t.Errorf("%s: read without the decoder %v, want %v", tc.args, fast, tc.fast)
		}
		m, timeout, err := rt.parseArgs([]byte(tc.args))
		// What the decoder alone makes of them.
		var want map[string]any
		var wantTimeout time.Duration
		wantErr := jsonUnmarshal([]byte(tc.args), &want)
		if wantErr == nil {
			wantTimeout = rt.opts.DefaultTimeout
			if v, ok := want[timeoutArg].(float64); ok && v > 0 && v <= float64(24*time.Hour/time.Millisecond) {
				wantTimeout = checkTimeout(v)
			} else if _, has := want[timeoutArg]; has {
				wantErr = errTimeoutRefused
			}
		}
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, the decoder's %v", tc.args, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if !reflect.DeepEqual(m, want) || timeout != wantTimeout {
			t.Errorf("%s: %v, %v; the decoder's %v, %v", tc.args, m, timeout, want, wantTimeout)
		}
		if fast && (m[timeoutArg] != ms) {
			t.Errorf("%s: read %v, the args hold %v", tc.args, ms, m[timeoutArg])
		}
	}
}
