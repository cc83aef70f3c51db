package server

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/logtest"
)

// The damage is logged at most once per corruptLogEvery, with how many
// errors were left out.
func TestCorruptLogBounded(t *testing.T) {
	logs := &logtest.Buffer{}
	now := time.Unix(1e9, 0)
	l := &corruptLog{log: slog.New(slog.NewTextHandler(logs, nil)), now: func() time.Time { return now }}
	for range 5 {
		l.report(errors.New("damaged"))
	}
	now = now.Add(corruptLogEvery)
	l.report(errors.New("damaged"))
	got := logs.String()
	if n := strings.Count(got, "level=ERROR"); n != 2 || !strings.Contains(got, "more_since_last=4") {
		t.Errorf("logged %q: want 2 lines, the second counting 4 left out", got)
	}
}
