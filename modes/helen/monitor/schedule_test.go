package monitor

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

func TestNextTick(t *testing.T) {
	base := time.Unix(1200, 0) // a multiple of every interval below: ticks are counted from the epoch
	for _, tc := range []struct {
		name       string
		now        time.Time
		every, off time.Duration
		want       time.Time
	}{
		{"before-offset", base, 10 * time.Second, 3 * time.Second, base.Add(3 * time.Second)},
		{"after-offset", base.Add(4 * time.Second), 10 * time.Second, 3 * time.Second, base.Add(13 * time.Second)},
		{"on-tick-is-next", base.Add(3 * time.Second), 10 * time.Second, 3 * time.Second, base.Add(13 * time.Second)},
		{"zero-offset", base.Add(time.Nanosecond), 10 * time.Second, 0, base.Add(10 * time.Second)},
		{"sub-second", base.Add(50 * time.Millisecond), 150 * time.Millisecond, 20 * time.Millisecond, base.Add(170 * time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nextTick(tc.now, tc.every, tc.off)
			if !got.Equal(tc.want) {
				t.Errorf("nextTick = %v, want %v", got.Sub(base), tc.want.Sub(base))
			}
			if !got.After(tc.now) || got.Sub(tc.now) > tc.every {
				t.Errorf("nextTick %v not within (now, now+every]", got.Sub(base))
			}
		})
	}
}

// TestOffsetSpread checks that a thousand agents sharing a schedule fall
// over its interval roughly uniformly, and that an offset is stable.
func TestOffsetSpread(t *testing.T) {
	const agents, buckets = 1000, 10
	every := 10 * time.Second
	var counts [buckets]int
	for i := range agents {
		name := "web-" + itoa(i+1)
		off := offset(name, "load", every)
		if off < 0 || off >= every {
			t.Fatalf("offset of %s = %v, outside [0, %v)", name, off, every)
		}
		if again := offset(name, "load", every); again != off {
			t.Fatalf("offset of %s changed: %v then %v", name, off, again)
		}
		counts[off*buckets/every]++
	}
	// Uniform: 100 a bucket. A chi-square statistic over 9 degrees of
	// freedom above 27.9 has a probability under 0.1%.
	chi := 0.0
	for _, n := range counts {
		d := float64(n - agents/buckets)
		chi += d * d / (agents / buckets)
	}
	t.Logf("offsets per tenth of the interval: %v (chi-square %.1f)", counts, chi)
	if chi > 27.9 {
		t.Errorf("offsets are not spread: %v (chi-square %.1f)", counts, chi)
	}
	if offset("web-1", "load", every) == offset("web-1", "disk", every) {
		t.Error("two schedules of one agent share an offset")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestCheckSchedule(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    state.Schedule
		ok   bool
	}{
		{"ok", state.Schedule{Name: "load", Check: "load", Every: time.Minute}, true},
		{"bad-name", state.Schedule{Name: "a b", Check: "load", Every: time.Minute}, false},
		{"bad-check", state.Schedule{Name: "a", Check: "lo ad", Every: time.Minute}, false},
		{"too-often", state.Schedule{Name: "a", Check: "load", Every: time.Millisecond}, false},
		{"bad-glob", state.Schedule{Name: "a", Check: "load", Every: time.Minute, Agents: "web-["}, false},
		{"args-not-object", state.Schedule{Name: "a", Check: "load", Every: time.Minute, Args: json.RawMessage(`[1]`)}, false},
		{"negative-timeout", state.Schedule{Name: "a", Check: "load", Every: time.Minute, Timeout: -time.Second}, false},
		{"args-too-large", state.Schedule{Name: "a", Check: "load", Every: time.Minute,
			Args: json.RawMessage(`{"x":"` + strings.Repeat("x", wire.MaxBlob) + `"}`)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSchedule(&tc.s)
			if (err == nil) != tc.ok {
				t.Errorf("checkSchedule = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (tc.s.Agents != "*" || tc.s.Timeout != DefaultTimeout) {
				t.Errorf("defaults not filled in: %+v", tc.s)
			}
		})
	}
}
