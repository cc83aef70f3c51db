package state

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func webhook(url string) Receiver {
	return Receiver{Kind: KindWebhook, Webhook: &WebhookReceiver{URL: url, Timeout: 5 * time.Second}}
}

func TestRoutes(t *testing.T) {
	db := openTest(t, Options{})
	r := Route{
		Name: "oncall",
		Receivers: []Receiver{
			webhook("https://hooks.example.com/x"),
			{Kind: KindAlertmanager, Alertmanager: &AlertmanagerReceiver{URL: "http://127.0.0.1:9093"}},
			{Kind: KindEmail, Email: &EmailReceiver{To: []string{"ops@example.com"}, SMTP: "mail:587", User: "u", PasswordFile: "/etc/pw", From: "helen@example.com"}},
			{Kind: KindExec, Exec: &ExecReceiver{Program: "/usr/local/bin/page", Timeout: time.Minute}},
		},
		Agents: "web-*", Schedules: "disk-*", Statuses: []string{"critical"},
		Renotify: time.Hour, NoRecovery: true, Created: at(0), Updated: at(0),
	}
	if err := db.PutRoute(r); err != nil {
		t.Fatal(err)
	}
	if err := db.PutRoute(Route{Name: "all", Receivers: []Receiver{webhook("http://h/")}, Created: at(0), Updated: at(0)}); err != nil {
		t.Fatal(err)
	}
	// Replacing keeps the creation time.
	r2 := r
	r2.Renotify, r2.Created, r2.Updated = 2*time.Hour, at(time.Hour), at(time.Hour)
	if err := db.PutRoute(r2); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, Options{})
	got, err := db.Route("oncall")
	if err != nil {
		t.Fatal(err)
	}
	want := r2
	want.Created = at(0)
	if !reflect.DeepEqual(normal(got), normal(want)) {
		t.Errorf("route = %+v\nwant %+v", got, want)
	}
	all, err := db.Routes()
	if err != nil || len(all) != 2 || all[0].Name != "all" || all[1].Name != "oncall" {
		t.Fatalf("routes = %+v, %v", all, err)
	}
	if err := db.DeleteRoute("all"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteRoute("all"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := db.Route("all"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted route: %v, want ErrNotFound", err)
	}
}

// normal gives times one location, so that DeepEqual compares instants.
func normal(r Route) Route {
	r.Created, r.Updated = r.Created.UTC(), r.Updated.UTC()
	return r
}

// A receiver of a kind written by a later program reads back, and is
// refused when written.
func TestRouteUnknownKind(t *testing.T) {
	db := openTest(t, Options{})
	err := db.update(func(txn *bolt.Tx) error {
		return txn.Bucket(bucketRoutes).Put([]byte("later"), []byte(`{"name":"later","receivers":[{"kind":"pager","pager":{"number":"1"}}]}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.Route("later")
	if err != nil || len(r.Receivers) != 1 || r.Receivers[0].Kind != "pager" {
		t.Fatalf("route of a later kind = %+v, %v", r, err)
	}
	if err := db.PutRoute(r); !errors.Is(err, ErrInvalid) {
		t.Errorf("PutRoute of an unknown kind = %v, want ErrInvalid", err)
	}
}

func TestPutRouteRefuses(t *testing.T) {
	db := openTest(t, Options{})
	ok := func(mod func(*Route)) Route {
		r := Route{Name: "r", Receivers: []Receiver{webhook("https://h/x")}}
		mod(&r)
		return r
	}
	email := func(mod func(*EmailReceiver)) func(*Route) {
		return func(r *Route) {
			e := &EmailReceiver{To: []string{"a@b.c"}, SMTP: "h:25"}
			mod(e)
			r.Receivers = []Receiver{{Kind: KindEmail, Email: e}}
		}
	}
	for _, tc := range []struct {
		name string
		r    Route
	}{
		{"no-name", ok(func(r *Route) { r.Name = "" })},
		{"nul-name", ok(func(r *Route) { r.Name = "a\x00b" })},
		{"no-receiver", ok(func(r *Route) { r.Receivers = nil })},
		{"too-many-receivers", ok(func(r *Route) {
			for range MaxReceivers {
				r.Receivers = append(r.Receivers, webhook("http://h/"))
			}
		})},
		{"bad-agents", ok(func(r *Route) { r.Agents = "[" })},
		{"bad-schedules", ok(func(r *Route) { r.Schedules = "a[" })},
		{"bad-status", ok(func(r *Route) { r.Statuses = []string{"critical", "ok"} })},
		{"negative-renotify", ok(func(r *Route) { r.Renotify = -time.Second })},
		{"no-kind", ok(func(r *Route) { r.Receivers[0].Kind = "" })},
		{"kind-mismatch", ok(func(r *Route) { r.Receivers[0].Kind = KindExec })},
		{"two-specs", ok(func(r *Route) { r.Receivers[0].Exec = &ExecReceiver{Program: "x"} })},
		{"webhook-ftp", ok(func(r *Route) { r.Receivers[0].Webhook.URL = "ftp://h/" })},
		{"webhook-no-host", ok(func(r *Route) { r.Receivers[0].Webhook.URL = "http:///x" })},
		{"webhook-template-big", ok(func(r *Route) { r.Receivers[0].Webhook.Template = strings.Repeat("x", MaxTemplate+1) })},
		{"webhook-timeout", ok(func(r *Route) { r.Receivers[0].Webhook.Timeout = MaxReceiverTimeout + 1 })},
		{"alertmanager-url", ok(func(r *Route) {
			r.Receivers = []Receiver{{Kind: KindAlertmanager, Alertmanager: &AlertmanagerReceiver{URL: "localhost:9093"}}}
		})},
		{"email-no-to", ok(email(func(e *EmailReceiver) { e.To = nil }))},
		{"email-bad-to", ok(email(func(e *EmailReceiver) { e.To = []string{"not an address"} }))},
		{"email-bad-from", ok(email(func(e *EmailReceiver) { e.From = "@" }))},
		{"email-no-port", ok(email(func(e *EmailReceiver) { e.SMTP = "mail.example.com" }))},
		{"exec-no-program", ok(func(r *Route) { r.Receivers = []Receiver{{Kind: KindExec, Exec: &ExecReceiver{}}} })},
		{"exec-timeout", ok(func(r *Route) {
			r.Receivers = []Receiver{{Kind: KindExec, Exec: &ExecReceiver{Program: "x", Timeout: -1}}}
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := db.PutRoute(tc.r); !errors.Is(err, ErrInvalid) {
				t.Errorf("PutRoute = %v, want ErrInvalid", err)
			}
		})
	}
	if rs, err := db.Routes(); err != nil || len(rs) != 0 {
		t.Errorf("refused routes stored: %+v, %v", rs, err)
	}
}

func TestRoutesBounded(t *testing.T) {
	db := openTest(t, Options{})
	for i := range MaxRoutes {
		if err := db.PutRoute(Route{Name: fmt.Sprint(i), Receivers: []Receiver{webhook("http://h/")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutRoute(Route{Name: "one-more", Receivers: []Receiver{webhook("http://h/")}}); !errors.Is(err, ErrFull) {
		t.Errorf("route beyond MaxRoutes: %v, want ErrFull", err)
	}
	// Replacing one is still allowed.
	if err := db.PutRoute(Route{Name: "7", Receivers: []Receiver{webhook("http://other/")}}); err != nil {
		t.Errorf("replacing a route at the bound: %v", err)
	}
}
