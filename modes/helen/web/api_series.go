package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/reply"
	"github.com/equus-monitoring/equus/state"
)

// DefaultRange is the range of a series asked for without one, and
// MaxRange the longest taken: the store keeps none older than
// --history-max-age anyway.
const (
	DefaultRange = 24 * time.Hour
	MaxRange     = 366 * 24 * time.Hour
)

// SeriesView is a metric's series as the API serves it: the buckets the
// graphs are drawn from (state.Series), and the metrics the schedule has
// a series of.
type SeriesView struct {
	Agent    string       `json:"agent"`
	Schedule string       `json:"schedule"`
	Metric   string       `json:"metric,omitempty"`
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to"`
	Metrics  []string     `json:"metrics"`
	Buckets  []BucketView `json:"buckets"`
}

// BucketView is a bucket of a series.
type BucketView struct {
	Start time.Time `json:"start"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
	Mean  float64   `json:"mean"`
	Count int       `json:"count"`
}

// ParseRange reads a range back from now: a duration ("90m", "24h") or a
// number of days ("7d"), more than 0 and at most MaxRange; "" is
// DefaultRange.
func ParseRange(s string) (time.Duration, error) {
	if s == "" {
		return DefaultRange, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > int(MaxRange/(24*time.Hour)) {
			return 0, fmt.Errorf("range %q: want 1d to %dd", s, MaxRange/(24*time.Hour))
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("range %q is neither a duration such as 6h nor days such as 7d", s)
		}
	}
	if d < time.Minute || d > MaxRange {
		return 0, fmt.Errorf("range %q: want 1m to %dd", s, MaxRange/(24*time.Hour))
	}
	return d, nil
}

func (a *api) handleSeries(w http.ResponseWriter, r *http.Request) {
	agent, schedule := r.PathValue("name"), r.PathValue("schedule")
	v := r.URL.Query()
	d, err := ParseRange(v.Get("range"))
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	if _, err := a.store.Agent(agent); err != nil {
		code := listErrorCode(err)
		if errors.Is(err, state.ErrNotFound) {
			code = http.StatusNotFound
		}
		reply.Error(w, code, "%v", err)
		return
	}
	names, err := a.store.SeriesNames(agent, schedule)
	if err != nil {
		reply.Error(w, listErrorCode(err), "%v", err)
		return
	}
	to := time.Now()
	view := SeriesView{Agent: agent, Schedule: schedule, Metric: v.Get("metric"), From: to.Add(-d), To: to,
		Metrics: names, Buckets: []BucketView{}}
	if view.Metrics == nil {
		view.Metrics = []string{}
	}
	if view.Metric != "" {
		bs, err := a.store.Series(agent, schedule, view.Metric, view.From, view.To)
		if err != nil {
			reply.Error(w, listErrorCode(err), "%v", err)
			return
		}
		for _, b := range bs {
			view.Buckets = append(view.Buckets, BucketView(b))
		}
	}
	reply.JSON(w, http.StatusOK, view)
}
