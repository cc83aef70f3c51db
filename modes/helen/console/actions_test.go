package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// Each action does what the API's call does and is recorded as an event
// that names who took it.
func TestActionsRecordWho(t *testing.T) {
	r := newRig(t)
	r.agent("web-1", true, state.Status{Schedule: "disk", Check: "disk", Status: "critical", Message: "full"})
	r.agent("old-1", false)
	if err := r.db.PutSchedule(state.Schedule{Name: "disk", Check: "disk", Every: time.Minute, Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r.addUser("alice", state.RoleOperator, "alice's password")
	cookie, csrf := r.login("alice", "alice's password")
	post := func(path string, f url.Values) (int, string) {
		f.Set("csrf", csrf)
		w := r.do(http.MethodPost, path, f, cookie)
		return w.Code, w.Body.String()
	}
	lastEvent := func() state.Event {
		evs, err := r.db.Events(time.Time{}, time.Time{}, 0)
		if err != nil || len(evs) == 0 {
			t.Fatalf("events: %v %v", evs, err)
		}
		return evs[len(evs)-1]
	}

	code, body := post("/agents/web-1/schedules/disk/run", url.Values{})
	if code != http.StatusOK || !strings.Contains(body, `id="ran"`) || !strings.Contains(body, "ran &lt;b&gt;now&lt;/b&gt;") || len(r.backend.runs) != 1 || r.backend.runs[0] != "web-1 disk" {
		t.Errorf("run now: %d, runs %v\n%s", code, r.backend.runs, body)
	}
	if ev := lastEvent(); ev.To != evRun || !strings.Contains(ev.Message, "run now by alice") || ev.Schedule != "disk" {
		t.Errorf("run's event %+v", ev)
	}

	if code, _ := post("/silences", url.Values{"agent": {"web-1"}, "schedule": {"disk"}, "for": {"4h"}, "comment": {"disk swap"}}); code != http.StatusSeeOther {
		t.Fatalf("silence: %d", code)
	}
	ss, _ := r.db.Silences()
	if len(ss) != 1 || ss[0].Author != "alice" || ss[0].Schedules != "disk" {
		t.Fatalf("silences %+v", ss)
	}
	if ev := lastEvent(); ev.To != evSilenced || !strings.Contains(ev.Message, "added by alice") || !strings.Contains(ev.Message, "disk swap") {
		t.Errorf("silence's event %+v", ev)
	}
	for _, bad := range []url.Values{
		{"agent": {"web-1"}, "for": {"0s"}, "comment": {"x"}},
		{"agent": {"web-1"}, "for": {"1000h"}, "comment": {"x"}},
		{"agent": {"web-1"}, "for": {"1h"}},
		{"for": {"1h"}, "comment": {"x"}},
		{"agent": {"web-1"}, "for": {"1h"}, "comment": {strings.Repeat("x", maxComment+1)}},
	} {
		if code, _ := post("/silences", bad); code != http.StatusBadRequest {
			t.Errorf("silence %v: %d, want 400", bad, code)
		}
	}
	if ss, _ := r.db.Silences(); len(ss) != 1 {
		t.Errorf("refused silences were added: %d", len(ss))
	}

	if code, _ := post("/silences/"+ss[0].ID+"/delete", url.Values{"agent": {"web-1"}}); code != http.StatusSeeOther {
		t.Errorf("remove silence: %d", code)
	}
	if left, _ := r.db.Silences(); len(left) != 0 {
		t.Errorf("silence not removed: %+v", left)
	}
	if ev := lastEvent(); ev.To != evUnsilence || !strings.Contains(ev.Message, "removed by alice") {
		t.Errorf("unsilence's event %+v", ev)
	}
	if code, _ := post("/silences/nothing/delete", url.Values{}); code != http.StatusNotFound {
		t.Errorf("remove no silence: %d", code)
	}

	if code, _ := post("/acks", url.Values{"agent": {"web-1"}, "schedule": {"disk"}, "comment": {"replacing it"}}); code != http.StatusSeeOther {
		t.Fatalf("ack: %d", code)
	}
	if acks, _ := r.db.Acks(); len(acks) != 1 || acks[0].Author != "alice" || acks[0].Comment != "replacing it" {
		t.Errorf("acks %+v", acks)
	}
	if ev := lastEvent(); ev.To != evAcked || !strings.Contains(ev.Message, "acknowledged by alice") {
		t.Errorf("ack's event %+v", ev)
	}
	if code, _ := post("/acks", url.Values{"agent": {"web-1"}, "schedule": {"nothing"}, "comment": {"x"}}); code != http.StatusConflict {
		t.Errorf("ack of no problem: %d, want 409", code)
	}

	code, body = post("/agents/web-1/token", url.Values{})
	if code != http.StatusOK || !strings.Contains(body, "eqt_secret-once") || len(r.backend.tokens) != 1 || r.backend.tokens[0].Agent != "web-1" || r.backend.tokens[0].Uses != 1 {
		t.Errorf("token: %d, asked %+v", code, r.backend.tokens)
	}
	if ev := lastEvent(); ev.To != evToken || !strings.Contains(ev.Message, "made by alice") || strings.Contains(ev.Message, "eqt_secret-once") {
		t.Errorf("token's event %+v (it must not hold the secret)", ev)
	}
	if body := r.do(http.MethodGet, "/agents/web-1", nil, cookie).Body.String(); strings.Contains(body, "eqt_secret-once") {
		t.Error("the token is shown again")
	}

	// Forget asks first, then forgets.
	code, body = post("/agents/old-1/forget", url.Values{})
	if code != http.StatusOK || !strings.Contains(body, `id="forget-confirm"`) || len(r.backend.forgot) != 0 {
		t.Fatalf("forget without confirm: %d, forgot %v", code, r.backend.forgot)
	}
	if code, _ := post("/agents/old-1/forget", url.Values{"confirm": {"yes"}}); code != http.StatusSeeOther || len(r.backend.forgot) != 1 {
		t.Fatalf("forget: %d, forgot %v", code, r.backend.forgot)
	}
	if ev := lastEvent(); ev.To != evForgotten || ev.Agent != "old-1" || !strings.Contains(ev.Message, "forgotten by alice") {
		t.Errorf("forget's event %+v", ev)
	}
	if w := r.do(http.MethodGet, "/agents/old-1", nil, cookie); w.Code != http.StatusNotFound {
		t.Errorf("the page of a forgotten agent: %d", w.Code)
	}
	// The admin token acts as admin.
	admin, acsrf := r.login("", adminToken)
	w := r.do(http.MethodPost, "/silences", url.Values{"csrf": {acsrf}, "agent": {"web-1"}, "for": {"1h"}, "comment": {"x"}}, admin)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("silence as admin: %d", w.Code)
	}
	if ev := lastEvent(); !strings.Contains(ev.Message, "added by admin") {
		t.Errorf("admin's event %+v", ev)
	}
}

// Logins: an account's password, the admin token, nothing else; failures
// are bounded per address; an account removed ends its sessions.
func TestLogin(t *testing.T) {
	r := newRig(t)
	r.addUser("alice", state.RoleOperator, "alice's password")
	for name, f := range map[string]url.Values{
		"wrong-password":   {"name": {"alice"}, "password": {"alice's passwore"}},
		"no-account":       {"name": {"mallory"}, "password": {"alice's password"}},
		"token-as-account": {"name": {"alice"}, "password": {adminToken}},
		"wrong-token":      {"password": {"eqa_wrong"}},
		"empty":            {},
	} {
		w := r.do(http.MethodPost, "/login", f, nil)
		if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 || !strings.Contains(w.Body.String(), "nor the admin token") {
			t.Errorf("%s: %d, cookies %v", name, w.Code, w.Result().Cookies())
		}
	}
	if r.console.Sessions() != 0 {
		t.Errorf("failed logins opened %d sessions", r.console.Sessions())
	}
	// The form before accounts: the admin token in "token".
	if w := r.do(http.MethodPost, "/login", url.Values{"token": {adminToken}}, nil); w.Code != http.StatusSeeOther {
		t.Errorf("login with token=: %d", w.Code)
	}
	cookie, _ := r.login("alice", "alice's password")
	if body := r.do(http.MethodGet, "/", nil, cookie).Body.String(); !strings.Contains(body, "alice · helen") {
		t.Error("the page does not say who is logged in")
	}
	if err := r.db.DeleteUser("alice"); err != nil {
		t.Fatal(err)
	}
	if body := r.do(http.MethodGet, "/", nil, cookie).Body.String(); !strings.Contains(body, `id="login"`) {
		t.Error("a removed account's session still opens the pages")
	}
	// Past maxFailures from one address, even the right secret waits.
	for range maxFailures - 5 { // 5 failed above
		r.do(http.MethodPost, "/login", url.Values{"password": {"eqa_wrong"}}, nil)
	}
	if w := r.do(http.MethodPost, "/login", url.Values{"password": {adminToken}}, nil); w.Code != http.StatusTooManyRequests {
		t.Errorf("login after %d failures: %d, want 429", maxFailures, w.Code)
	}
}

// The table of failed logins is bounded, and its windows end.
func TestLoginLimitBound(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLoginLimit(func() time.Time { return now })
	for i := range maxLoginAddrs + 100 {
		l.failed(strings.Repeat("a", i%7) + string(rune('0'+i%10)) + strings.Repeat("b", i/10))
	}
	if n := l.len(); n != maxLoginAddrs {
		t.Errorf("%d addresses kept, want %d", n, maxLoginAddrs)
	}
	for range maxFailures {
		l.failed("x")
	}
	if l.allowed("x") {
		t.Error("an address past its failures is allowed")
	}
	now = now.Add(loginWindow)
	if !l.allowed("x") {
		t.Error("an address is still refused after its window")
	}
}
