package storetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

func init() {
	register("ResultOddText", testResultOddText)
}

// testResultOddText: a result whose message, long output and metrics
// hold a NUL and bytes that are not UTF-8 is stored, and takes none of
// the results committed with it down. A NUL comes back as it was, or as
// U+FFFD where the store's text cannot hold one (PostgreSQL's cannot);
// bytes not UTF-8 come back as U+FFFD, as JSON makes them.
func testResultOddText(t *testing.T, open Opener) {
	db := open(t)
	odd := checkResult("a", "odd", "nul\x00 and \xff bytes", 0)
	odd.LongOutput = "line\x00\nbad \xfe"
	odd.Metrics = []state.Metric{{Name: "m\xff", Value: 1, Unit: "u\x00"}}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		r := checkResult("b", "fine", "fine", time.Duration(i)*time.Second)
		if i == 10 {
			r = odd
		}
		wg.Go(func() { errs[i] = db.AddResult(context.Background(), r) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("result %d: %v", i, err)
		}
	}
	if rs, err := db.History("b", "", 0, time.Time{}, time.Time{}); err != nil || len(rs) != 19 {
		t.Errorf("%d results of b, %v; want 19", len(rs), err)
	}
	rs, err := db.History("a", "odd", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("odd: %d results, %v", len(rs), err)
	}
	r := rs[0]
	nul := func(s string) string { return strings.ReplaceAll(s, "\uFFFD", "\x00") }
	if m := nul(r.Message); m != "nul\x00 and \x00 bytes" {
		t.Errorf("message %q", r.Message)
	}
	if l := nul(r.LongOutput); l != "line\x00\nbad \x00" {
		t.Errorf("long output %q", r.LongOutput)
	}
	if len(r.Metrics) != 1 || r.Metrics[0].Name != "m\uFFFD" || nul(r.Metrics[0].Unit) != "u\x00" {
		t.Errorf("metrics %+v", r.Metrics)
	}
}
