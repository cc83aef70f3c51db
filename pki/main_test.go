package pki

import (
	"testing"

	"github.com/equus-monitoring/equus/internal/leakcheck"
)

// TestMain fails the run when goroutines started by the tests (servers,
// connections) outlive them.
func TestMain(m *testing.M) { leakcheck.Main(m, "equus/pki.") }
