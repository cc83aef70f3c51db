package dev

import (
	"testing"

	"github.com/equus-monitoring/equus/internal/leakcheck"
)

// TestMain fails the run when goroutines started by the tests outlive them.
func TestMain(m *testing.M) {
	leakcheck.Main(m, "equus/modes/dev", "equus/modes/helen", "equus/state.")
}
