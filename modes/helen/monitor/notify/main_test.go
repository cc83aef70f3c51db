package notify

import (
	"testing"

	"github.com/equus-monitoring/equus/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, "equus/modes/helen/monitor/notify.") }
