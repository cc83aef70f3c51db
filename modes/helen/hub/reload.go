package hub

import (
	"context"
	"fmt"

	"github.com/equus-monitoring/equus/wire"
)

// Reload sends reload to the connected agent name: the agent finishes its
// checks and closes the connection, then reloads its checks; under stage0
// it first syncs the check bundle (and the binary, where a newer version is
// offered). It is how new checks put in the check directory reach an agent
// now rather than at its next reconnection.
func (h *Hub) Reload(ctx context.Context, name string) error {
	ss, ok := h.Session(name)
	if !ok {
		return fmt.Errorf("reload %s: %w", name, ErrNotConnected)
	}
	if err := ss.send(ctx, outMsg{m: wire.Reload()}, false); err != nil {
		return fmt.Errorf("reload %s: %w", name, err)
	}
	ss.log.Info("reload sent")
	return nil
}
