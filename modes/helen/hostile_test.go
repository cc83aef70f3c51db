package helen

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	helenweb "github.com/equus-monitoring/equus/modes/helen/web"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// floodBlob is what a hostile agent answers to every check: critical, with
// 500 metrics of long names and units and a message that fills the rest of
// the protocol's 1 MiB blob. It is made once: encoding it to fit takes a
// while.
func floodBlob(wire.Message) []byte { return flood() }

var flood = sync.OnceValue(func() []byte {
	ms := make([]result.Metric, 500)
	for i := range ms {
		ms[i] = result.Metric{Name: fmt.Sprintf("m%d_%s", i, strings.Repeat("n", 150)), Value: float64(i), Unit: strings.Repeat("u", 40)}
	}
	doc := result.Doc{Status: result.Critical, Message: strings.Repeat("flood ", wire.MaxBlob/6), Metrics: ms}
	return doc.Encode(wire.MaxBlob)
})

// checkCapped fails the test unless a stored message and its metrics are
// within the store's bounds and the message says it was cut.
func checkCapped(t *testing.T, what, msg string, metrics []state.Metric) {
	t.Helper()
	if len(msg) > state.MaxMessage || !strings.Contains(msg, "… [cut from ") {
		t.Errorf("%s: message of %d bytes ending %q; want at most %d, saying it was cut", what, len(msg), msg[max(0, len(msg)-80):], state.MaxMessage)
	}
	if len(metrics) > state.MaxMetrics {
		t.Errorf("%s: %d metrics, want at most %d", what, len(metrics), state.MaxMetrics)
	}
	for _, m := range metrics {
		if len(m.Name) > state.MaxMetricName || len(m.Unit) > state.MaxMetricUnit {
			t.Errorf("%s: a metric named with %d bytes, its unit %d", what, len(m.Name), len(m.Unit))
			break
		}
	}
}

// TestHostileAgent: an enrolled agent answering every check with a 1 MiB
// message and 500 metrics, over real TLS, is stored capped: its results,
// status and event say they were cut, the database grows by a bounded
// amount a result, its history comes in bounded pages, and helen status
// still works for every agent.
func TestHostileAgent(t *testing.T) {
	h := startHelen(t, server.Config{})
	events, unsubscribe := h.srv.Subscribe(64)
	defer unsubscribe()
	web := startAgent(t, h, "web-1", behavior{})
	web.Ready()
	bad := startAgent(t, h, "hostile", behavior{Answer: floodBlob})
	bad.Ready()
	db := h.srv.DB()

	// Results one after the other, each on disk when Run returns.
	const runs = 24
	before, err := db.Size()
	if err != nil {
		t.Fatal(err)
	}
	for i := range runs {
		doc, err := h.srv.Run(t.Context(), "hostile", "flood", nil, waitFor)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			checkCapped(t, "run", doc.Message, doc.Metrics)
		}
	}
	after, err := db.Size()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := db.History("hostile", "flood", 0, time.Time{}, time.Time{})
	if err != nil || len(rs) != runs {
		t.Fatalf("history: %d results, %v; want %d", len(rs), err, runs)
	}
	checkCapped(t, "result", rs[0].Message, rs[0].Metrics)
	// What one result adds is bounded by the caps, whatever the agent
	// sends: here a result is some 15 KB encoded, and 64 KiB leaves room
	// for its copy as its check's latest and for bbolt growing its file
	// by doubling its map. Uncapped, each added over a megabyte.
	stored, _ := json.Marshal(rs[0])
	if grown, bound := after-before, int64(runs*8*state.MaxMessage); grown > bound {
		t.Errorf("the database grew by %d bytes for %d results of %d bytes stored; want at most %d", grown, runs, len(stored), bound)
	}
	t.Logf("%d results of %d bytes stored each grew the database by %d bytes (%d a result)", runs, len(stored), after-before, (after-before)/runs)

	// The history of the hostile agent: a bounded page, and a Link to the
	// next, which goes on where it ended.
	c := newOpsClient(t, h)
	req, _ := http.NewRequest(http.MethodGet, c.Base+"/v1/history?agent=hostile&check=flood&limit=10", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, body := c.Send(req)
	var page1 []state.Result
	if err := json.Unmarshal(body, &page1); err != nil || resp.StatusCode != http.StatusOK || len(page1) != 10 {
		t.Fatalf("history page: %d, %d results, %v", resp.StatusCode, len(page1), err)
	}
	if len(body) > 10*2*len(stored) {
		t.Errorf("a page of 10 results is %d bytes, want at most %d", len(body), 10*2*len(stored))
	}
	next := helenweb.ParseNext(resp.Header.Get("Link"))
	if !strings.HasPrefix(next, "/v1/history?") || !strings.Contains(next, "cursor=") {
		t.Fatalf("Link %q, want one to the next page", resp.Header.Get("Link"))
	}
	var page2 []state.Result
	c.Get(next, &page2)
	if len(page2) != 10 || !page2[0].Time.Before(page1[9].Time) {
		t.Errorf("next page: %d results, the first at %v after the last of the first page at %v", len(page2), page2[0].Time, page1[9].Time)
	}

	// A schedule on both agents: the hostile one's status and event are
	// capped too.
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "flood", Check: "flood", Every: time.Second}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	waitEvent(t, events, "the first status of each agent", func(ev state.Event) bool {
		if ev.Schedule != "flood" {
			return false
		}
		if ev.Agent == "hostile" {
			checkCapped(t, "event sent", ev.Message, nil)
		}
		seen[ev.Agent+" "+ev.To] = true
		return seen["hostile critical"] && seen["web-1 ok"]
	})
	stEvents, err := db.Events(time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range stEvents {
		if ev.Agent == "hostile" {
			checkCapped(t, "event stored", ev.Message, nil)
		}
	}
	sts, err := db.Statuses("hostile")
	if err != nil || len(sts) != 1 {
		t.Fatalf("stored statuses: %v, %v", sts, err)
	}
	checkCapped(t, "status stored", sts[0].Message, sts[0].Metrics)
	for _, v := range h.srv.Statuses(false) {
		if v.Agent == "hostile" {
			checkCapped(t, "status served", v.Message, v.Metrics)
		}
	}

	// helen status, through the admin socket, for everyone.
	out, code := helenCLI(t, "status", "--data="+h.dir)
	if code != 0 || !strings.Contains(out, "CRITICAL  hostile") || !strings.Contains(out, "OK        web-1") {
		t.Fatalf("helen status: exit %d, printed %q", code, out)
	}
	out, code = helenCLI(t, "status", "--json", "--data="+h.dir)
	var views []monitor.StatusView
	if err := json.Unmarshal([]byte(out), &views); code != 0 || err != nil || len(views) != 2 {
		t.Fatalf("helen status --json: exit %d, %d statuses, %v", code, len(views), err)
	}
}
