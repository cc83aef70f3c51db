package server

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/modes/equus"
	"github.com/equus-monitoring/equus/state"
)

// joinHelens returns the helens h's join command names, in order.
func joinHelens(h *testHelen) []string {
	var got []string
	for _, m := range regexp.MustCompile(`--helen ('[^']*'|\S+)`).FindAllStringSubmatch(h.srv.joiner().command("eqt_x"), -1) {
		got = append(got, strings.Trim(m[1], "'"))
	}
	return got
}

// TestSharedStoreNamesHelens: helens of one store name each other's
// agents' addresses, read from their rows: the join command of each names
// both, its own first, and a helen at its bound of sessions sends an agent
// given it alone to the other, which takes it. A helen stopped is named no
// more.
func TestSharedStoreNamesHelens(t *testing.T) {
	url, key := pgtest.DB(t), newStoreKey()
	a := startHelen(t, Config{Store: url, HelenID: "helen-a", StoreKey: key, MaxSessions: 1})
	b := startShared(t, url, "helen-b", key)
	st := cluster(t, url)
	poll(t, "each helen's row to have its agents' address", func() bool {
		hs, err := st.Helens(context.Background())
		return err == nil && len(hs) == 2 && hs[0].Agents == a.addr() && hs[1].Agents == b.addr()
	})
	for _, h := range []struct {
		h    *testHelen
		want []string
	}{{a, []string{a.addr(), b.addr()}}, {b, []string{b.addr(), a.addr()}}} {
		var got []string
		poll(t, h.h.srv.ID()+"'s join command to name both helens", func() bool {
			got = joinHelens(h.h)
			return slices.Equal(got, h.want)
		})
		if j := h.h.srv.joiner(); !slices.Equal(j.helens(), h.want) {
			t.Errorf("%s's token names %q, want %q", h.h.srv.ID(), j.helens(), h.want)
		}
	}

	// a at its bound: web-2, given a alone and an hour's backoff, is
	// sent to b at once.
	startRealAgent(t, a, clocktesting.NewFakeClock(time.Now()), "web-1")
	secret, _, err := a.srv.DB().CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour, Agent: "web-2"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	second := runAgent(t, equus.Config{
		Version: "1.0.0", Helens: []string{a.addr()}, CAPin: a.srv.CA().Pin(), Token: secret, Name: "web-2",
		DataDir: t.TempDir(), BackoffMin: time.Hour, BackoffMax: time.Hour,
	})
	poll(t, "web-2 held by helen-b", func() bool {
		_, ok := b.srv.hub.Session("web-2")
		c, err := st.Owner(context.Background(), "web-2")
		return ok && err == nil && c.Held && c.Helen == "helen-b"
	})
	if !strings.Contains(second.logs.String(), "try_elsewhere "+b.addr()) {
		t.Errorf("the agent's log does not show it sent to %s:\n%s", b.addr(), second.logs.String())
	}
	if _, ok := a.srv.hub.Session("web-2"); ok || len(a.srv.hub.Sessions()) != 1 {
		t.Errorf("helen-a holds %d sessions, want web-1's alone", len(a.srv.hub.Sessions()))
	}

	// b stopped: a names itself alone, and has no helen to send to.
	second.wait()
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	poll(t, "helen-a's join command to name it alone", func() bool { return slices.Equal(joinHelens(a), []string{a.addr()}) })
	if others := a.srv.elsewhere(); len(others) != 0 {
		t.Errorf("helen-a sends agents to %q, a helen stopped", others)
	}
}
