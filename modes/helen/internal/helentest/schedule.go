package helentest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/state"
)

// Scheduler is what FailingDisk needs of a helen's server.
type Scheduler interface {
	PutSchedule(state.Schedule) (state.Schedule, error)
	Statuses(unfold bool) []monitor.StatusView
}

// FailingDisk connects an agent web-1 to h, puts on srv (h's server) a
// schedule disk whose check web-1 answers critical every 50 ms, and waits
// until the problem is confirmed: the schedule's hard status critical.
func FailingDisk(t testing.TB, h Helen, srv Scheduler) *Agent {
	t.Helper()
	a := StartAgentOn(t, h, "web-1", Behavior{})
	a.Ready()
	if _, err := srv.PutSchedule(state.Schedule{Name: "disk", Check: "disk", Args: json.RawMessage(`{"status":"critical"}`), Every: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "disk critical on web-1", WaitFor, 5*time.Millisecond, func() bool {
		sts := srv.Statuses(false)
		return len(sts) == 1 && sts[0].HardStatus == "critical"
	})
	return a
}
