package helen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// apiDocPath is the description of the API that TestAPIDoc holds the
// code to.
const apiDocPath = "../../docs/API.md"

// apiDoc is what docs/API.md says: its endpoints, the parameters it
// describes, and the fields of its documents.
type apiDoc struct {
	endpoints []docEndpoint
	params    []string
	docs      map[string][]docField
}

type docEndpoint struct {
	method, path string
	params       []string
	list         bool   // the answer is a list of doc
	doc          string // the answer's document
}

type docField struct {
	name, typ string
	always    bool
}

var (
	backticked = regexp.MustCompile("`([a-z_]+)`")
	docLink    = regexp.MustCompile(`^(list of )?\[(\w+)\]\(#\w+\)`)
	snakeCase  = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
)

// cells splits a row of a markdown table, or returns nil for a line that
// is not one, or is its header's rule.
func cells(line string) []string {
	if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
		return nil
	}
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// parseAPIDoc reads the tables of docs/API.md: the rows of the table under
// "## Endpoints", of the one under "## Parameters", and of each "### Name"
// under "## Documents".
func parseAPIDoc(t *testing.T) apiDoc {
	t.Helper()
	f, err := os.Open(apiDocPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := apiDoc{docs: map[string][]docField{}}
	var section, doc string
	header := false // the next row is a table's header
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			section, doc = strings.TrimPrefix(line, "## "), ""
			header = true
			continue
		case strings.HasPrefix(line, "### "):
			doc = strings.TrimPrefix(line, "### ")
			header = true
			continue
		}
		row := cells(line)
		if row == nil {
			continue
		}
		if header {
			header = false
			continue
		}
		switch {
		case section == "Endpoints" && len(row) == 4:
			e := docEndpoint{method: row[0], path: strings.Trim(row[1], "`")}
			for _, m := range backticked.FindAllStringSubmatch(row[2], -1) {
				e.params = append(e.params, m[1])
			}
			m := docLink.FindStringSubmatch(row[3])
			if m == nil {
				t.Fatalf("%s: endpoint %s %s: answer %q is not [Doc](#doc) or list of [Doc](#doc)", apiDocPath, e.method, e.path, row[3])
			}
			e.list, e.doc = m[1] != "", m[2]
			d.endpoints = append(d.endpoints, e)
		case section == "Parameters" && len(row) == 3:
			d.params = append(d.params, strings.Trim(row[0], "`"))
		case section == "Documents" && doc != "" && len(row) == 4:
			d.docs[doc] = append(d.docs[doc], docField{name: strings.Trim(row[0], "`"), typ: row[1], always: row[2] == "always"})
		default:
			t.Fatalf("%s: a row of %d cells in section %q: %s", apiDocPath, len(row), section, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(d.endpoints) == 0 || len(d.docs) == 0 || len(d.params) == 0 {
		t.Fatalf("%s: no endpoints, parameters or documents found", apiDocPath)
	}
	return d
}

// docChecker checks JSON values against the documents, and notes the
// fields it saw of each.
type docChecker struct {
	t    *testing.T
	doc  apiDoc
	seen map[string]map[string]bool
}

// value checks a JSON value against a type of the description.
func (c *docChecker) value(where, typ string, v any) {
	c.t.Helper()
	bad := func() { c.t.Errorf("%s: %s is not a %s", where, short(v), typ) }
	if m := docLink.FindStringSubmatch(typ); m != nil {
		if m[1] == "" {
			c.object(where, m[2], v)
			return
		}
		items, ok := v.([]any)
		if !ok {
			bad()
			return
		}
		for i, it := range items {
			c.object(fmt.Sprintf("%s[%d]", where, i), m[2], it)
		}
		return
	}
	switch typ {
	case "list of strings":
		items, ok := v.([]any)
		if !ok {
			bad()
			return
		}
		for _, it := range items {
			if _, ok := it.(string); !ok {
				bad()
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			bad()
		}
	case "number":
		if _, ok := v.(float64); !ok {
			bad()
		}
	case "integer":
		if n, ok := v.(float64); !ok || n != math.Trunc(n) {
			bad()
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad()
		}
	case "object":
		if _, ok := v.(map[string]any); !ok {
			bad()
		}
	case "time":
		if s, ok := v.(string); !ok {
			bad()
		} else if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			bad()
		}
	case "duration":
		if s, ok := v.(string); !ok {
			bad()
		} else if _, err := time.ParseDuration(s); err != nil {
			bad()
		}
	default:
		c.t.Errorf("%s: the description has a type %q this test does not know", where, typ)
	}
}

// object checks that v is a document of the named kind: every field it
// has described, of its type; every field described as always there.
func (c *docChecker) object(where, name string, v any) {
	c.t.Helper()
	fields, ok := c.doc.docs[name]
	if !ok {
		c.t.Errorf("%s: the description has no document %s", where, name)
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		c.t.Errorf("%s: %s is not a %s object", where, short(v), name)
		return
	}
	if c.seen[name] == nil {
		c.seen[name] = map[string]bool{}
	}
	for key, val := range obj {
		i := slices.IndexFunc(fields, func(f docField) bool { return f.name == key })
		if i < 0 {
			c.t.Errorf("%s: %s has field %q, which docs/API.md does not describe", where, name, key)
			continue
		}
		if !snakeCase.MatchString(key) {
			c.t.Errorf("%s: field %q is not lower snake case", where, key)
		}
		c.seen[name][key] = true
		c.value(where+"."+key, fields[i].typ, val)
	}
	for _, f := range fields {
		if _, ok := obj[f.name]; f.always && !ok {
			c.t.Errorf("%s: %s lacks %q, which docs/API.md says is always there", where, name, f.name)
		}
	}
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// TestAPIDocTables: the description's endpoints are the API's routes,
// with the parameters each takes, and every parameter is described.
func TestAPIDocTables(t *testing.T) {
	d := parseAPIDoc(t)
	var routes, described []string
	for route, params := range web.Routes() {
		p := slices.Clone(params)
		sort.Strings(p)
		routes = append(routes, fmt.Sprintf("%s %v", route, p))
	}
	used := map[string]bool{}
	for _, e := range d.endpoints {
		p := slices.Clone(e.params)
		sort.Strings(p)
		described = append(described, fmt.Sprintf("%s %s %v", e.method, e.path, p))
		for _, name := range e.params {
			used[name] = true
		}
		if _, ok := d.docs[e.doc]; !ok {
			t.Errorf("%s %s answers with %s, which is not described", e.method, e.path, e.doc)
		}
	}
	sort.Strings(routes)
	sort.Strings(described)
	if !slices.Equal(routes, described) {
		t.Errorf("the API serves\n\t%s\ndocs/API.md describes\n\t%s", strings.Join(routes, "\n\t"), strings.Join(described, "\n\t"))
	}
	for _, p := range d.params {
		if !used[p] {
			t.Errorf("parameter %s is described but no endpoint takes it", p)
		}
		delete(used, p)
	}
	for p := range used {
		t.Errorf("parameter %s is taken but not described under Parameters", p)
	}
	for name, fields := range d.docs {
		for _, f := range fields {
			if !snakeCase.MatchString(f.name) {
				t.Errorf("%s.%s: not lower snake case", name, f.name)
			}
		}
	}
}

// TestAPIDoc: every endpoint answers with documents that have exactly the
// fields docs/API.md describes, of their types, and so do the helen
// commands' --json; every field described is seen at least once; and a
// status keeps a metric's unit as the check wrote it, as the history does.
func TestAPIDoc(t *testing.T) {
	d := parseAPIDoc(t)
	// One other helen shares its store, for the tokens' helens.
	h := startHelen(t, server.Config{DownAfter: 2 * time.Second, Helens: func() []string { return []string{"helen-2.example:7480"} }})
	db := h.srv.DB()
	c := newOpsClient(t, h)
	var flips atomic.Int64
	answer := func(m wire.Message) []byte {
		if m.Name == "flip" { // a schedule that flaps: ok, critical, ok...
			if flips.Add(1)%2 == 0 {
				return []byte(`{"status":"critical","message":"flip","duration_ms":1}`)
			}
			return []byte(`{"status":"ok","message":"flip","duration_ms":1}`)
		}
		if m.Name == "load" { // what POST /v1/agents/web-1/run asks
			return []byte(`{"status":"ok","message":"load 0.5","long_output":"1 min 0.5\n5 min 0.4","duration_ms":2,` +
				`"metrics":[{"name":"load1","value":0.5,"warn_range":"@2:4","crit_range":"4:"}]}`)
		}
		return []byte(`{"status":"warning","message":"disk 85% used","duration_ms":1.5,` +
			`"metrics":[{"name":"used","value":85,"unit":"%","warn":80,"crit":90,"min":0,"max":100}]}`)
	}
	web := startAgent(t, h, "web-1", behavior{Answer: answer})
	web.Ready()
	gone := startAgent(t, h, "gone-1", behavior{})
	gone.Ready()
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "disk-root", Check: "disk", Args: json.RawMessage(`{"path":"/"}`), Every: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	// Flip confirms its problems after two results in a row, which never
	// come: it flaps, its changes soft.
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "flip", Check: "flip", Every: 50 * time.Millisecond, Agents: "web-1", Attempts: 2}); err != nil {
		t.Fatal(err)
	}
	poll(t, "a status of disk-root on both agents, and flip flapping", func() bool {
		sts := h.srv.Statuses(false)
		return len(sts) == 3 && slices.ContainsFunc(sts, func(v monitor.StatusView) bool { return v.Schedule == "flip" && v.Flapping })
	})
	gone.Close()
	poll(t, "gone-1 down", func() bool {
		sts := h.srv.Statuses(false)
		return slices.ContainsFunc(sts, func(v monitor.StatusView) bool { return v.Kind == monitor.KindAgentDown })
	})
	// A renewal not used yet, and a revoked agent.
	a, err := db.Agent("web-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RenewCert("web-1", a.Fingerprint, "sha256:"+strings.Repeat("0", 64), time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if err := db.AgentSeen(state.Agent{Name: "old-1"}); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Revoke("old-1"); err != nil {
		t.Fatal(err)
	}

	// Alerting: a secret file, a notification delivered after a failed
	// attempt and one pending, an acknowledgement.
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = db.AddEventsWithNotifications(state.EventNotifications{
		Event: state.Event{Time: now, Agent: "web-1", Schedule: "disk-root", Check: "disk", From: "ok", To: "critical", Message: "full"},
		Notify: []state.Outgoing{
			{Route: "ops", Receiver: 0, Doc: json.RawMessage(`{"kind":"problem"}`)},
			{Route: "ops", Receiver: 1, Doc: json.RawMessage(`{"kind":"problem"}`)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A shell session's end, as helen stores it.
	exit := 0
	if err := db.AddEvents(state.Event{Time: now, Agent: "web-1", To: state.EventSessionEnded, Message: "shell session ended",
		Session: &state.Session{ID: "s1", Who: "admin", User: "root", Command: []string{"id"}, Duration: time.Second, ExitStatus: &exit}}); err != nil {
		t.Fatal(err)
	}
	ns, _, err := db.Notifications(state.NotificationQuery{})
	if err != nil || len(ns) != 2 {
		t.Fatalf("notifications: %v %v", ns, err)
	}
	if err := db.RecordAttempt(ns[0].ID, state.Attempt{Time: now, Error: "503 Service Unavailable"}, state.Retry, now); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordAttempt(ns[0].ID, state.Attempt{Time: now, Answer: "200 OK"}, state.Delivered, time.Time{}); err != nil {
		t.Fatal(err)
	}
	route := map[string]any{"name": "ops", "agents": "web-*", "schedules": "disk-*", "statuses": []string{"critical"}, "renotify": "1h", "no_recovery": true,
		"receivers": []any{
			map[string]any{"kind": "webhook", "webhook": map[string]any{"url": "https://127.0.0.1:1/hook", "template": `{"text": {{json .Headline}}}`, "secret_file": secret, "timeout": "5s"}},
			map[string]any{"kind": "alertmanager", "alertmanager": map[string]any{"url": "http://127.0.0.1:1"}},
			map[string]any{"kind": "email", "email": map[string]any{"to": []string{"ops@example.com"}, "smtp": "127.0.0.1:1", "user": "u", "password_file": secret, "from": "helen@example.com"}},
			map[string]any{"kind": "exec", "exec": map[string]any{"program": "/bin/true", "timeout": "5s"}},
		}}
	silence := map[string]any{"agents": "web-*", "schedules": "disk-*", "end": now.Add(time.Hour), "comment": "maintenance", "author": "alice", "expire_on_resolve": true}

	// The requests that exercise each endpoint described, and what they
	// answer: a document, or an error.
	type request struct {
		path string
		body any
		code int
		doc  string // "" for the endpoint's own answer
	}
	requests := map[string][]request{
		"GET /v1/agents":              {{path: "/v1/agents"}, {path: "/v1/agents?since=1h", code: 400, doc: "Error"}},
		"GET /v1/status":              {{path: "/v1/status"}, {path: "/v1/status?all=true"}},
		"GET /v1/history":             {{path: "/v1/history?agent=web-1&limit=1000"}, {path: "/v1/history?agent=web-1&schedule=disk-root&check=disk&name=disk&since=1h"}, {path: "/v1/history", code: 400, doc: "Error"}},
		"GET /v1/events":              {{path: "/v1/events?since=1h&until=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}},
		"GET /v1/schedules":           {{path: "/v1/schedules?limit=10"}},
		"POST /v1/schedules":          {{path: "/v1/schedules", body: map[string]any{"name": "x", "check": "load", "every": "1h"}}, {path: "/v1/schedules", body: map[string]any{"name": "x"}, code: 400, doc: "Error"}},
		"GET /v1/schedules/{name}":    {{path: "/v1/schedules/x"}, {path: "/v1/schedules/nothing", code: 404, doc: "Error"}},
		"DELETE /v1/schedules/{name}": {{path: "/v1/schedules/x"}, {path: "/v1/schedules/x", code: 404, doc: "Error"}},
		"POST /v1/tokens": {{path: "/v1/tokens", body: map[string]any{"uses": 1, "ttl": "1h"}},
			{path: "/v1/tokens", body: map[string]any{"uses": 2, "ttl": 3600, "agent": "web-1"}},
			{path: "/v1/tokens", body: map[string]any{"uses": 0, "ttl": "1h"}, code: 400, doc: "Error"}},
		"POST /v1/agents/{name}/certificate": {{path: "/v1/agents/new-1/certificate"},
			{path: "/v1/agents/old-1/certificate", code: 400, doc: "Error"}},
		"POST /v1/agents/{name}/revoke": {{path: "/v1/agents/old-1/revoke"},
			{path: "/v1/agents/nobody/revoke", code: 404, doc: "Error"}, {path: "/v1/agents/a%20b/revoke", code: 400, doc: "Error"}},
		"DELETE /v1/agents/{name}": {{path: "/v1/agents/old-1"},
			{path: "/v1/agents/old-1", code: 404, doc: "Error"}, {path: "/v1/agents/web-1", code: 409, doc: "Error"}},
		"POST /v1/agents/{name}/run": {{path: "/v1/agents/web-1/run", body: map[string]any{"check": "load", "timeout": "10s"}},
			{path: "/v1/agents/nobody/run", body: map[string]any{"check": "load"}, code: 404, doc: "Error"},
			{path: "/v1/agents/web-1/run", body: map[string]any{"check": "load", "timeout": "1h"}, code: 400, doc: "Error"}},
		"POST /v1/agents/{name}/runs": {{path: "/v1/agents/web-1/runs", body: map[string]any{"runs": []any{map[string]any{"check": "load", "timeout": "10s"}, map[string]any{"check": "bad name"}}}},
			{path: "/v1/agents/web-1/runs", body: map[string]any{"runs": []any{}}, code: 400, doc: "Error"},
			{path: "/v1/agents/web-1/runs", body: map[string]any{"runs": []any{map[string]any{"check": "load", "timeout": "1h"}}}, code: 400, doc: "Error"}},
		"POST /v1/agents/{name}/reload": {{path: "/v1/agents/web-1/reload"},
			{path: "/v1/agents/nobody/reload", code: 404, doc: "Error"}, {path: "/v1/agents/web-1/reload", body: "x", code: 400, doc: "Error"}},
		// Its answer is an upgrade (TestShell*, in package server).
		"POST /v1/agents/{name}/shell": {{path: "/v1/agents/web-1/shell", body: map[string]any{}, code: 400, doc: "Error"}},
		"GET /v1/agents/{name}/schedules/{schedule}/series": {{path: "/v1/agents/web-1/schedules/disk-root/series"},
			{path: "/v1/agents/web-1/schedules/disk-root/series?metric=used&range=1h"},
			{path: "/v1/agents/web-1/schedules/disk-root/series?metric=used&range=30d"},
			{path: "/v1/agents/nobody/schedules/disk-root/series?metric=used", code: 404, doc: "Error"},
			{path: "/v1/agents/web-1/schedules/disk-root/series?metric=used&range=1y", code: 400, doc: "Error"},
			{path: "/v1/agents/web-1/schedules/disk-root/series?metric=%1b", code: 400, doc: "Error"}},
		"POST /v1/routes":             {{path: "/v1/routes", body: route}, {path: "/v1/routes", body: map[string]any{"name": "x"}, code: 400, doc: "Error"}},
		"GET /v1/routes":              {{path: "/v1/routes"}},
		"GET /v1/routes/{name}":       {{path: "/v1/routes/ops"}, {path: "/v1/routes/nothing", code: 404, doc: "Error"}},
		"POST /v1/routes/{name}/test": {{path: "/v1/routes/ops/test"}, {path: "/v1/routes/nothing/test", code: 404, doc: "Error"}},
		"DELETE /v1/routes/{name}":    {{path: "/v1/routes/ops"}, {path: "/v1/routes/ops", code: 404, doc: "Error"}},
		"POST /v1/silences":           {{path: "/v1/silences", body: silence}, {path: "/v1/silences", body: map[string]any{"agents": "["}, code: 400, doc: "Error"}},
		"GET /v1/silences":            {{path: "/v1/silences"}},
		"DELETE /v1/silences/{id}":    {{path: "/v1/silences/nothing", code: 404, doc: "Error"}},
		"POST /v1/acks": {{path: "/v1/acks", body: map[string]any{"agent": "web-1", "schedule": "disk-root", "comment": "on it", "author": "bob"}},
			{path: "/v1/acks", body: map[string]any{"agent": "gone-1", "comment": "rebooting"}},
			{path: "/v1/acks", body: map[string]any{"agent": "web-1"}, code: 400, doc: "Error"},
			{path: "/v1/acks", body: map[string]any{"agent": "web-1", "schedule": "nothing", "comment": "x"}, code: 409, doc: "Error"}},
		"GET /v1/acks":                       {{path: "/v1/acks"}},
		"DELETE /v1/acks/{agent}/{schedule}": {{path: "/v1/acks/web-1/disk-root"}, {path: "/v1/acks/web-1/disk-root", code: 404, doc: "Error"}},
		"DELETE /v1/acks/{agent}":            {{path: "/v1/acks/gone-1"}, {path: "/v1/acks/gone-1", code: 404, doc: "Error"}},
		"GET /v1/notifications": {{path: "/v1/notifications?since=1h&agent=web-1"}, {path: "/v1/notifications?state=pending"},
			{path: "/v1/notifications?state=lost", code: 400, doc: "Error"}},
		"POST /v1/users": {{path: "/v1/users", body: map[string]any{"name": "alice", "password": "correct horse battery"}},
			{path: "/v1/users", body: map[string]any{"name": "bob", "read_only": true, "token": true}},
			{path: "/v1/users", body: map[string]any{"name": "carol", "password": "short"}, code: 400, doc: "Error"},
			{path: "/v1/users", body: map[string]any{"name": "alice", "token": true}, code: 409, doc: "Error"}},
		"GET /v1/users":           {{path: "/v1/users"}},
		"DELETE /v1/users/{name}": {{path: "/v1/users/bob"}, {path: "/v1/users/bob", code: 404, doc: "Error"}},
	}
	ck := &docChecker{t: t, doc: d, seen: map[string]map[string]bool{}}
	for _, e := range d.endpoints {
		key := e.method + " " + e.path
		reqs, ok := requests[key]
		if !ok {
			t.Errorf("docs/API.md describes %s, which this test does not ask: add a request", key)
			continue
		}
		delete(requests, key)
		for _, rq := range reqs {
			code, data := c.Do(e.method, rq.path, c.Token, rq.body)
			if rq.code == 0 {
				rq.code = http.StatusOK
			}
			if code != rq.code {
				t.Errorf("%s %s: %d %s, want %d", e.method, rq.path, code, data, rq.code)
				continue
			}
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				t.Errorf("%s %s: %v in %s", e.method, rq.path, err, data)
				continue
			}
			where := e.method + " " + rq.path
			switch {
			case rq.doc != "":
				ck.object(where, rq.doc, v)
			case e.list:
				ck.value(where, "list of ["+e.doc+"](#x)", v)
			default:
				ck.object(where, e.doc, v)
			}
		}
	}
	for key := range requests {
		t.Errorf("this test asks %s, which docs/API.md does not describe", key)
	}

	// The helen commands print the same documents.
	data := "--data=" + h.dir
	for _, cmd := range []struct {
		args []string
		doc  string
	}{
		{[]string{"agents", data}, "Agent"},
		{[]string{"status", data}, "Status"},
		{[]string{"status", data, "--all"}, "Status"},
		{[]string{"history", data, "--json", "--limit=1000", "web-1"}, "Result"},
		{[]string{"events", data}, "Event"},
		{[]string{"schedule", "list", data}, "Schedule"},
	} {
		args := cmd.args
		if !slices.Contains(args, "--json") {
			args = append(args, "--json")
		}
		out, code := helenCLI(t, args...)
		var v any
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Errorf("helen %v: exit %d, %s", args, code, out)
			continue
		}
		ck.value("helen "+strings.Join(cmd.args, " ")+" --json", "list of ["+cmd.doc+"](#x)", v)
	}

	for name, fields := range d.docs {
		for _, f := range fields {
			if !ck.seen[name][f.name] {
				t.Errorf("%s.%s is described, but no answer had it", name, f.name)
			}
		}
	}

	// Units as the check wrote them, in the status as in the history.
	var sts []monitor.StatusView
	c.Get("/v1/status", &sts)
	var rs []state.Result
	c.Get("/v1/history?agent=web-1&schedule=disk-root&limit=1", &rs)
	i := slices.IndexFunc(sts, func(v monitor.StatusView) bool { return v.Agent == "web-1" && v.Schedule == "disk-root" })
	if i < 0 || len(rs) != 1 || len(sts[i].Metrics) != 1 || len(rs[0].Metrics) != 1 {
		t.Fatalf("web-1's status %+v and last result %+v: want a metric each", sts, rs)
	}
	if st, r := sts[i].Metrics[0], rs[0].Metrics[0]; st.Name != "used" || st.Unit != "%" || r.Unit != "%" {
		t.Errorf("metric of web-1's status %q in %q, of its last result %q in %q: want used in %%", st.Name, st.Unit, r.Name, r.Unit)
	}
}
