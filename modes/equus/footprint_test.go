package equus

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"unset", nil, gcPercent},
		{"set", map[string]string{"GOGC": "200"}, 100}, // the runtime's to apply, not ours
		{"off", map[string]string{"GOGC": "off"}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			tuneGC(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if got := debug.SetGCPercent(100); got != tc.want {
				t.Errorf("GOGC %d, want %d", got, tc.want)
			}
		})
	}
}

func TestTuneProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"unset", nil, procs},
		{"set", map[string]string{"GOMAXPROCS": "4"}, 3}, // the runtime's to apply, not ours
	} {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GOMAXPROCS(3)
			tuneProcs(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if got := runtime.GOMAXPROCS(0); got != tc.want {
				t.Errorf("GOMAXPROCS %d, want %d", got, tc.want)
			}
		})
	}
}
