package check

import (
	"testing"

	"github.com/equus-monitoring/equus/internal/leakcheck"
)

// TestMain fails the run when the tests leave a goroutine of the command
// or of the Lua runtime it runs checks in behind.
func TestMain(m *testing.M) { leakcheck.Main(m, "equus/modes/check.", "equus/lua.") }
