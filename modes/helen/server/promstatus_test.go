package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

func TestMetricsCarryStatus(t *testing.T) {
	h := startHelen(t, Config{})
	c := newOpsClient(t, h)
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "disk-root", Check: "disk", Every: 100 * time.Millisecond,
		Args: json.RawMessage(`{"status":"critical"}`)}); err != nil {
		t.Fatal(err)
	}
	poll(t, "a status", func() bool { return len(h.srv.Statuses(false)) == 1 })
	fams := scrape(t, c)
	v, ok := gauge(fams["equus_check_status"], map[string]string{"agent": "web-1", "schedule": "disk-root", "check": "disk"})
	if !ok || v != 2 {
		t.Errorf("equus_check_status of web-1 disk-root = %v (found %v), want 2", v, ok)
	}
	for _, name := range []string{"helen_agents_connected", "helen_checks_sent_total", "helen_results_received_total",
		"helen_check_round_trip_seconds", "helen_database_bytes", "helen_scheduled_runs_total"} {
		if fams[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	if v, _ := gauge(fams["helen_database_bytes"], nil); v <= 0 {
		t.Errorf("helen_database_bytes = %v", v)
	}

	// The metrics of a result, with names sanitized and at most 32 kept;
	// nothing of the message.
	var ms []result.Metric
	for i := range 40 {
		ms = append(ms, result.Metric{Name: fmt.Sprintf("used %d%%", i), Value: float64(i), Unit: "B"})
	}
	doc, err := json.Marshal(result.Doc{Status: result.Warning, Message: `secret "text"`, Metrics: ms})
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, h, "web-2", behavior{}).Ready()
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "other", Check: "mem", Agents: "web-2", Every: 100 * time.Millisecond,
		Args: json.RawMessage(`{"doc":` + string(doc) + `}`)}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the status of other on web-2", func() bool {
		for _, v := range h.srv.Statuses(false) {
			if v.Agent == "web-2" && v.Schedule == "other" {
				return true
			}
		}
		return false
	})
	fams = scrape(t, c)
	if v, ok := gauge(fams["equus_check_status"], map[string]string{"agent": "web-2", "schedule": "other"}); !ok || v != 1 {
		t.Errorf("equus_check_status of web-2 = %v, %v; want 1", v, ok)
	}
	if v, ok := gauge(fams["equus_check_metric"], map[string]string{"agent": "web-2", "metric": "used_7percent", "unit": "B"}); !ok || v != 7 {
		t.Errorf("equus_check_metric used_7percent = %v, %v; want 7", v, ok)
	}
	n := 0
	for _, m := range fams["equus_check_metric"].Series {
		for name, value := range m.Labels {
			if name == "agent" && value == "web-2" {
				n++
			}
			if strings.Contains(value, "secret") {
				t.Errorf("a label carries the message: %v", m)
			}
		}
	}
	if n != monitor.MaxMetrics {
		t.Errorf("%d metrics of web-2 exported, want %d", n, monitor.MaxMetrics)
	}
}

// TestMetricsThresholds: the ends of a metric's thresholds are series of
// their own, with the range as written in a label, so that warn=1:2 is
// not "alert above 2" and crit=@3:4 not "alert above 4"; an open end has
// no series; a bare number (from an older agent) is the high end; a value
// the check could not determine has no value series, but its thresholds.
func TestMetricsThresholds(t *testing.T) {
	h := startHelen(t, Config{})
	c := newOpsClient(t, h)
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	doc := `{"status":"warning","message":"m","metrics":[` +
		`{"name":"a","value":1.5,"warn_range":"1:2","crit_range":"@3:4","min":0,"max":10},` +
		`{"name":"b","value":7,"unit":"s","warn_range":"10:","crit_range":"~:10"},` +
		`{"name":"c","value":3,"warn":5},` +
		`{"name":"u","value":null,"crit":5,"crit_range":"5.000"}]}`
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "t", Check: "nagios", Every: 50 * time.Millisecond,
		Args: json.RawMessage(`{"doc":` + doc + `}`)}); err != nil {
		t.Fatal(err)
	}
	poll(t, "a status", func() bool { return len(h.srv.Statuses(false)) == 1 })
	fams := scrape(t, c)
	if v, ok := gauge(fams["equus_check_status"], map[string]string{"schedule": "t"}); !ok || v != 1 {
		t.Errorf("equus_check_status = %v, %v; want 1", v, ok)
	}
	tests := []struct {
		family, metric, rng string
		value               float64
		present             bool
	}{
		{"equus_check_metric", "a", "", 1.5, true},
		{"equus_check_metric_warn_low", "a", "1:2", 1, true},
		{"equus_check_metric_warn_high", "a", "1:2", 2, true},
		{"equus_check_metric_crit_low", "a", "@3:4", 3, true},
		{"equus_check_metric_crit_high", "a", "@3:4", 4, true},
		{"equus_check_metric_min", "a", "", 0, true},
		{"equus_check_metric_max", "a", "", 10, true},
		{"equus_check_metric_warn_low", "b", "10:", 10, true},
		{"equus_check_metric_warn_high", "b", "", 0, false},
		{"equus_check_metric_crit_low", "b", "", 0, false},
		{"equus_check_metric_crit_high", "b", "~:10", 10, true},
		{"equus_check_metric_min", "b", "", 0, false},
		{"equus_check_metric_warn_high", "c", "5", 5, true},
		{"equus_check_metric_warn_low", "c", "", 0, false},
		{"equus_check_metric", "u", "", 0, false},
		{"equus_check_metric_crit_low", "u", "5.000", 0, true},
		{"equus_check_metric_crit_high", "u", "5.000", 5, true},
	}
	for _, tt := range tests {
		labels := map[string]string{"agent": "web-1", "schedule": "t", "check": "nagios", "metric": tt.metric}
		if tt.rng != "" {
			labels["range"] = tt.rng
		}
		v, ok := gauge(fams[tt.family], labels)
		if ok != tt.present || v != tt.value {
			t.Errorf("%s%v = %v (present %v), want %v (present %v)", tt.family, labels, v, ok, tt.value, tt.present)
		}
	}
}
