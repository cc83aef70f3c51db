package helen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/internal/helentest"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// writeProgram writes an exec receiver that keeps its standard input in
// got and answers "got it", and returns its path.
func writeProgram(t *testing.T) (program, got string) {
	dir := t.TempDir()
	program, got = filepath.Join(dir, "receive"), filepath.Join(dir, "got")
	script := fmt.Sprintf("#!/bin/sh\ncat > '%s'\necho got it\n", got)
	if err := os.WriteFile(program, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return program, got
}

// TestAlertingCommands: routes, silences and acknowledgements are added,
// listed, tested and removed with the helen commands through a running
// helen, and kept in its store; notify test runs the route's receiver and
// prints its answer.
func TestAlertingCommands(t *testing.T) {
	h := startHelen(t, server.Config{})
	db := h.srv.DB()
	data := "--data=" + h.dir
	program, got := writeProgram(t)

	out, code := helenCLI(t, "notify", "add", data, "--exec="+program, "--agents=web-*", "--statuses=critical,warning", "--renotify=1h", "--no-recovery", "ops")
	if code != 0 || !strings.Contains(out, "route ops: critical,warning of schedules * on agents web-* to exec "+program+", again every 1h0m0s, no recoveries") {
		t.Fatalf("notify add: exit %d, %q", code, out)
	}
	r, err := db.Route("ops")
	if err != nil || r.Agents != "web-*" || len(r.Statuses) != 2 || r.Renotify != time.Hour || !r.NoRecovery || r.Receivers[0].Exec.Program != program {
		t.Fatalf("stored route %+v, %v", r, err)
	}
	out, code = helenCLI(t, "notify", "list", data)
	if code != 0 || !strings.Contains(out, "RECEIVERS") || !strings.Contains(out, "ops") || !strings.Contains(out, "exec "+program) {
		t.Errorf("notify list: exit %d, %q", code, out)
	}
	out, code = helenCLI(t, "notify", "test", data, "ops")
	if code != 0 || out != "exec "+program+": ok: exit 0: got it\n" {
		t.Errorf("notify test: exit %d, %q", code, out)
	}
	var n map[string]any
	if b, err := os.ReadFile(got); err != nil || json.Unmarshal(b, &n) != nil || n["kind"] != "test" || !strings.Contains(n["message"].(string), "route ops") {
		t.Errorf("the program got %v (%v)", n, err)
	}
	// A receiver that fails: the test says so, and fails.
	if out, code := helenCLI(t, "notify", "add", data, "--exec=/bin/false", "broken"); code != 0 {
		t.Fatalf("notify add broken: exit %d, %q", code, out)
	}
	out, code = helenCLI(t, "notify", "test", data, "broken")
	if code != 1 || !strings.Contains(out, "exec /bin/false: FAILED: ") || !strings.Contains(out, "a receiver failed the test") {
		t.Errorf("notify test of a failing receiver: exit %d, %q", code, out)
	}
	if out, code := helenCLI(t, "notify", "rm", data, "broken"); code != 0 || out != "removed route broken\n" {
		t.Errorf("notify rm: exit %d, %q", code, out)
	}

	out, code = helenCLI(t, "silence", "add", data, "--agents=db-*", "--schedules=disk*", "--for=2h", "--comment=new disks", "--expire-on-resolve")
	id := strings.TrimSpace(out)
	if code != 0 || len(id) != 8 {
		t.Fatalf("silence add: exit %d, %q", code, out)
	}
	ss, err := db.Silences()
	if err != nil || len(ss) != 1 || ss[0].ID != id || ss[0].Agents != "db-*" || ss[0].Comment != "new disks" || !ss[0].ExpireOnResolve || ss[0].Author != osUser() ||
		ss[0].End.Sub(ss[0].Start) != 2*time.Hour {
		t.Fatalf("stored silences %+v, %v", ss, err)
	}
	until := time.Now().Add(3 * time.Hour).Truncate(time.Minute)
	if out, code := helenCLI(t, "silence", "add", data, "--agents=*", "--until="+until.Local().Format("2006-01-02 15:04"), "--comment=upgrade"); code != 0 {
		t.Fatalf("silence add --until: exit %d, %q", code, out)
	}
	out, code = helenCLI(t, "silence", "list", data)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "or on recovery") || !strings.Contains(out, until.Local().Format(time.DateTime)) {
		t.Errorf("silence list: exit %d, %q", code, out)
	}
	if out, code := helenCLI(t, "silence", "rm", data, id); code != 0 || out != "removed silence "+id+"\n" {
		t.Errorf("silence rm: exit %d, %q", code, out)
	}
	if ss, _ := db.Silences(); len(ss) != 1 {
		t.Errorf("silences after rm: %+v", ss)
	}

	// Nothing to acknowledge yet: refused, nothing stored.
	if out, code := helenCLI(t, "ack", data, "--comment=replacing the disk", "web-1", "disk"); code != 1 || !strings.Contains(out, "nothing to acknowledge: disk on web-1 has no status") {
		t.Errorf("ack of no problem: exit %d, %q", code, out)
	}
	if acks, _ := db.Acks(); len(acks) != 0 {
		t.Errorf("stored acks of no problem: %+v", acks)
	}
	helentest.FailingDisk(t, h, h.srv)
	if out, code := helenCLI(t, "ack", data, "--comment=replacing the disk", "web-1", "disk"); code != 0 || out != "acknowledged disk on web-1\n" {
		t.Errorf("ack: exit %d, %q", code, out)
	}
	acks, err := db.Acks()
	if err != nil || len(acks) != 1 || acks[0].Comment != "replacing the disk" || acks[0].Author != osUser() {
		t.Errorf("stored acks %+v, %v", acks, err)
	}
	if out, code := helenCLI(t, "unack", data, "web-1", "disk"); code != 0 {
		t.Errorf("unack: exit %d, %q", code, out)
	}
	if out, code := helenCLI(t, "unack", data, "web-1", "disk"); code != 1 || !strings.Contains(out, "not found") {
		t.Errorf("unack again: exit %d, %q", code, out)
	}

	addNotification(t, db)
	out, code = helenCLI(t, "notifications", data, "--state=retrying")
	if code != 0 || !strings.Contains(out, "web-1  disk  ops#0  retrying  1 attempts") || !strings.Contains(out, "503 Service Unavailable") {
		t.Errorf("notifications: exit %d, %q", code, out)
	}
	out, code = helenCLI(t, "notifications", data, "--state=delivered", "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("notifications --state=delivered: exit %d, %q", code, out)
	}
}

// addNotification puts a notification of web-1's disk in the outbox,
// tried once and failed.
func addNotification(t *testing.T, db state.Store) {
	t.Helper()
	now := time.Now()
	err := db.AddEventsWithNotifications(state.EventNotifications{
		Event:  state.Event{Time: now, Agent: "web-1", Schedule: "disk", Check: "disk", From: "ok", To: "critical", Message: "full"},
		Notify: []state.Outgoing{{Route: "ops", Receiver: 0, Doc: json.RawMessage(`{"kind":"problem"}`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ns, _, err := db.Notifications(state.NotificationQuery{})
	if err != nil || len(ns) != 1 {
		t.Fatalf("notifications %+v, %v", ns, err)
	}
	if err := db.RecordAttempt(ns[0].ID, state.Attempt{Time: now, Error: "503 Service Unavailable"}, state.Retry, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
}

// TestAlertingBadInput: what cannot make a working route, silence or
// acknowledgement is a usage error, said before anything is sent, and
// nothing is stored.
func TestAlertingBadInput(t *testing.T) {
	h := startHelen(t, server.Config{})
	db := h.srv.DB()
	data := "--data=" + h.dir
	dir := t.TempDir()
	badTmpl := filepath.Join(dir, "bad.tmpl")
	if err := os.WriteFile(badTmpl, []byte("{{.Nothing}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"notify", "add", "x"}, 2, "no receiver"},
		{[]string{"notify", "add", "--webhook=http://hooks.example.com/x", "x"}, 2, "want https://"},
		{[]string{"notify", "add", "--webhook=hooks.example.com/x", "x"}, 2, "want an https:// URL"},
		{[]string{"notify", "add", "--webhook=https://hooks.example.com/x", "--agents=[", "x"}, 2, "--agents \"[\": not a glob"},
		{[]string{"notify", "add", "--webhook=https://hooks.example.com/x", "--statuses=ok", "x"}, 2, "is not critical, warning, unknown, session-started, session-ended"},
		{[]string{"notify", "add", "--webhook=https://hooks.example.com/x", "--webhook-template=" + badTmpl, "x"}, 2, "template"},
		{[]string{"notify", "add", "--webhook=https://hooks.example.com/x", "--webhook-template=" + filepath.Join(dir, "none"), "x"}, 2, "--webhook-template"},
		{[]string{"notify", "add", "--secret-file=" + badTmpl, "--exec=/bin/true", "x"}, 2, "give --webhook URL"},
		{[]string{"notify", "add", "--email=ops@example.com", "x"}, 2, "--email needs --smtp"},
		{[]string{"notify", "add", "--email=ops@example.com", "--smtp=mx:25", "--smtp-user=u", "x"}, 2, "together"},
		{[]string{"notify", "add", "--email=Ops <ops@example.com>", "--smtp=mx:25", "x"}, 1, "bare address"},
		{[]string{"notify", "add", "--exec=notify.sh", "x"}, 2, "absolute path"},
		{[]string{"notify", "add", "--exec=/bin/true", "--renotify=-1h", "x"}, 2, "--renotify"},
		{[]string{"notify", "add", "--exec=/bin/true", "bad/name"}, 1, "bad route name"},
		{[]string{"notify", "add", "--exec=/bin/true"}, 2, "missing NAME"},
		{[]string{"notify", "test", "nothing"}, 1, "not found"},
		{[]string{"notify", "rm", "nothing"}, 1, "not found"},
		{[]string{"silence", "add", "--agents=*", "--comment=x"}, 2, "give --for DURATION or --until TIME"},
		{[]string{"silence", "add", "--agents=*", "--for=1h", "--until=2099-01-01 00:00", "--comment=x"}, 2, "not both"},
		{[]string{"silence", "add", "--agents=[", "--for=1h", "--comment=x"}, 2, "not a glob"},
		{[]string{"silence", "add", "--agents=*", "--schedules=[", "--for=1h", "--comment=x"}, 2, "not a glob"},
		{[]string{"silence", "add", "--agents=*", "--for=-1h", "--comment=x"}, 2, "positive"},
		{[]string{"silence", "add", "--agents=*", "--until=2001-01-01 00:00", "--comment=x"}, 2, "in the past"},
		{[]string{"silence", "add", "--agents=*", "--until=tomorrow", "--comment=x"}, 2, "RFC 3339"},
		{[]string{"silence", "add", "--agents=*", "--for=1h", "--comment="}, 2, "--comment"},
		{[]string{"silence", "add", "--agents=*", "--for=1h"}, 2, "comment"},
		{[]string{"silence", "rm", "nothing"}, 1, "not found"},
		{[]string{"ack", "--comment=x"}, 2, "missing AGENT"},
		{[]string{"ack", "--comment=x", "web-1", "disk", "more"}, 2, "takes AGENT [SCHEDULE]"},
		{[]string{"ack", "web-1", "disk"}, 2, "comment"},
		{[]string{"ack", "--comment=x", "a b", "disk"}, 1, "agent name"},
		{[]string{"unack"}, 2, "missing AGENT"},
		{[]string{"notifications", "--state=lost"}, 2, "--state \"lost\""},
	} {
		args := append([]string{tt.args[0], data}, tt.args[1:]...)
		if tt.args[0] == "notify" || tt.args[0] == "silence" {
			args = append([]string{tt.args[0], tt.args[1], data}, tt.args[2:]...)
		}
		out, code := helenCLI(t, args...)
		if code != tt.code || !strings.Contains(out, tt.says) {
			t.Errorf("helen %s: exit %d, %q; want %d and %q", strings.Join(tt.args, " "), code, out, tt.code, tt.says)
		}
	}
	rs, _ := db.Routes()
	ss, _ := db.Silences()
	acks, _ := db.Acks()
	if len(rs)+len(ss)+len(acks) != 0 {
		t.Errorf("stored: routes %+v, silences %+v, acks %+v", rs, ss, acks)
	}
}

// TestNotifyTestOffline: with helen stopped, notify test builds the
// route's receivers itself and sends.
func TestNotifyTestOffline(t *testing.T) {
	h := startHelen(t, server.Config{})
	program, got := writeProgram(t)
	if _, err := h.srv.PutRoute(web.RouteView{Name: "ops", Receivers: []web.ReceiverView{{Kind: state.KindExec, Exec: &web.ExecView{Program: program}}}}.Route()); err != nil {
		t.Fatal(err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	out, code := helenCLI(t, "notify", "test", "--data="+h.dir, "ops")
	if code != 0 || out != "exec "+program+": ok: exit 0: got it\n" {
		t.Errorf("notify test offline: exit %d, %q", code, out)
	}
	if _, err := os.Stat(got); err != nil {
		t.Errorf("the program did not run: %v", err)
	}
}

// TestAckOffline: with helen stopped, ack goes through the same decision
// as a running helen's: a problem the store has is acknowledged and its
// acknowledgement notification, with author and comment, waits in the
// outbox for the next start; an ok schedule's is refused.
func TestAckOffline(t *testing.T) {
	h := startHelen(t, server.Config{})
	program, _ := writeProgram(t)
	if _, err := h.srv.PutRoute(web.RouteView{Name: "ops", Receivers: []web.ReceiverView{{Kind: state.KindExec, Exec: &web.ExecView{Program: program}}}}.Route()); err != nil {
		t.Fatal(err)
	}
	helentest.FailingDisk(t, h, h.srv)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	data := "--data=" + h.dir
	if out, code := helenCLI(t, "ack", data, "--comment=x", "web-1", ""); code != 1 || !strings.Contains(out, "agent web-1 is not down") {
		t.Errorf("ack of an agent up, offline: exit %d, %q", code, out)
	}
	if out, code := helenCLI(t, "ack", data, "--comment=swapping it", "web-1", "disk"); code != 0 || out != "acknowledged disk on web-1\n" {
		t.Fatalf("ack offline: exit %d, %q", code, out)
	}
	db, err := state.Open(filepath.Join(h.dir, "helen.db"), state.Options{Existing: true, PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ns, _, err := db.Notifications(state.NotificationQuery{State: state.NotifyPending})
	if err != nil {
		t.Fatal(err)
	}
	var acks int
	for _, n := range ns {
		var doc struct{ Kind, Author, Comment, Status string }
		if json.Unmarshal(n.Doc, &doc) == nil && doc.Kind == "acknowledgement" {
			acks++
			if doc.Author != osUser() || doc.Comment != "swapping it" || doc.Status != "critical" || n.Route != "ops" {
				t.Errorf("acknowledgement pending: %+v, %s", n, n.Doc)
			}
		}
	}
	if as, _ := db.Acks(); acks != 1 || len(as) != 1 {
		t.Errorf("%d acknowledgement notifications pending, acks %+v; want 1 of each", acks, as)
	}
}
