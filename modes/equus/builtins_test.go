package equus

import (
	"slices"
	"testing"

	"github.com/equus-monitoring/equus/wire"
)

// TestBuiltinsAreTheProtocols: the agent answers exactly the built-in
// checks the protocol names, which helen accepts in schedules.
func TestBuiltinsAreTheProtocols(t *testing.T) {
	if got, want := BuiltinChecks(), wire.Builtins(); !slices.Equal(got, want) {
		t.Errorf("built-in checks %v, the protocol's %v", got, want)
	}
}
