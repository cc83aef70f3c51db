package wire

import (
	"testing"

	"github.com/equus-monitoring/equus/internal/leakcheck"
)

// TestMain fails the run when goroutines started by the tests (the callers
// and agents of the Caller's tests) outlive them.
func TestMain(m *testing.M) { leakcheck.Main(m, "equus/wire.") }
