package server

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// connWrites counts the writes of the agents' connection bookkeeping, each
// a transaction of its own.
type connWrites struct {
	state.Store
	mu            sync.Mutex
	disconnects   int // SetConnected(false)
	disconnectAll int
}

func (c *connWrites) SetConnected(name string, connected bool, at time.Time) error {
	if !connected {
		c.mu.Lock()
		c.disconnects++
		c.mu.Unlock()
	}
	return c.Store.SetConnected(name, connected, at)
}

func (c *connWrites) DisconnectAll(at time.Time) error {
	c.mu.Lock()
	c.disconnectAll++
	c.mu.Unlock()
	return c.Store.DisconnectAll(at)
}

// TestShutdownRecordsEndsTogether shuts down a helen with many sessions:
// every agent is told shutting_down and recorded disconnected, in one
// transaction for them all rather than one each.
func TestShutdownRecordsEndsTogether(t *testing.T) {
	const n = 60
	writes := &connWrites{}
	h := startHelen(t, Config{wrapStore: func(s state.Store) state.Store { writes.Store = s; return writes }})
	agents := make([]*fakeAgent, n)
	for i := range agents {
		agents[i] = startAgent(t, h, fmt.Sprintf("web-%d", i), behavior{})
	}
	for _, a := range agents {
		a.Ready()
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		ms, _ := a.WaitClosed()
		if m := lastMessage(ms); m.Kind != wire.KindError || m.Text != string(wire.CodeShuttingDown) {
			t.Fatalf("%s: last message %+v, want error shutting_down", a.Name(), m)
		}
	}
	writes.mu.Lock()
	got := writes.disconnects + writes.disconnectAll
	writes.mu.Unlock()
	if got != 1 {
		t.Errorf("%d transactions recorded %d sessions' ends (%d SetConnected, %d DisconnectAll), want 1",
			got, n, writes.disconnects, writes.disconnectAll)
	}
	all, err := h.srv.DB().Agents()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("%d agents recorded, want %d", len(all), n)
	}
	for _, a := range all {
		if a.Connected {
			t.Errorf("%s recorded connected after the shutdown", a.Name)
		}
	}
}
