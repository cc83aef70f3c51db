package server

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"log/slog"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/monitor/notify"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/state"
)

// ErrPlainWebhook refuses a webhook in the clear to another host: its URL
// and body often carry a token (Slack's, Teams'), and a notification tells
// an eavesdropper what is down. A loopback relay may speak plain http.
var ErrPlainWebhook = errors.New("webhook URL: want https:// (http:// only to a loopback address)")

// putRoute checks r and stores it at now, replacing the route of its
// name, and returns it as stored. Beyond what the store checks, each
// receiver must be one that can work (notify.FromSpec: a template that
// runs, a secret file helen can read) and a webhook must use TLS. Its
// errors of bad input wrap state.ErrInvalid.
func putRoute(db state.Store, r state.Route, now time.Time) (state.Route, error) {
	// A route's name is in paths and lines as an agent's is, under the
	// same rule.
	if agentname.Check(r.Name) != nil {
		return r, fmt.Errorf("%w: bad route name %q: %s", state.ErrInvalid, r.Name, strings.Replace(agentname.Rule, "an agent name", "a route name", 1))
	}
	for i, rc := range r.Receivers {
		if rc.Kind == state.KindWebhook && rc.Webhook != nil {
			if u, err := url.Parse(rc.Webhook.URL); err == nil && u.Scheme == "http" && !notify.IsLoopback(u.Host) {
				return r, fmt.Errorf("route %s: receiver %d: %w: %w", r.Name, i+1, state.ErrInvalid, ErrPlainWebhook)
			}
		}
		rv, err := notify.FromSpec(rc, nil)
		if err != nil {
			return r, fmt.Errorf("route %s: receiver %d: %w: %w", r.Name, i+1, state.ErrInvalid, err)
		}
		notify.CloseIdle(rv)
	}
	r.Created, r.Updated = now, now
	if err := db.PutRoute(r); err != nil {
		return r, err
	}
	return db.Route(r.Name)
}

// testRoute sends a test notification, made at now, through every
// receiver of the route called name at once, and returns what each
// answered. roots verifies the receivers' certificates (nil: the
// system's).
func testRoute(ctx context.Context, db state.Store, name string, roots *x509.CertPool, now time.Time) (web.RouteTest, error) {
	r, err := db.Route(name)
	if err != nil {
		return web.RouteTest{}, err
	}
	var id [12]byte
	rand.Read(id[:]) // never fails (crypto/rand documents it)
	n := notify.Notification{
		ID: "test-" + hex.EncodeToString(id[:]), Kind: notify.Test, Status: "ok",
		Message: "a test notification of route " + r.Name, Since: now, Time: now, Attempt: 1,
	}
	out := web.RouteTest{Route: r.Name, Answers: make([]web.TestAnswer, len(r.Receivers))}
	var wg sync.WaitGroup
	for i, rc := range r.Receivers {
		out.Answers[i].Receiver = describeReceiver(rc)
		rv, err := notify.FromSpec(rc, roots)
		if err != nil {
			out.Answers[i].Error = err.Error()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer notify.CloseIdle(rv)
			m := n
			m.Delivery = fmt.Sprintf("%s-%s-%d", n.ID, r.Name, i)
			ans, err := rv.Send(ctx, m)
			out.Answers[i].Answer = ans
			if err != nil {
				out.Answers[i].Error = err.Error()
			}
		}()
	}
	wg.Wait()
	return out, nil
}

// describeReceiver is a receiver as a line: its kind and where it sends,
// with no user info or query of a URL (which may hold a token).
func describeReceiver(rc state.Receiver) string {
	redact := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			return "?"
		}
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		return u.String()
	}
	switch {
	case rc.Webhook != nil:
		return "webhook " + redact(rc.Webhook.URL)
	case rc.Alertmanager != nil:
		return "alertmanager " + redact(rc.Alertmanager.URL)
	case rc.Email != nil:
		return fmt.Sprintf("email %v via %s", rc.Email.To, rc.Email.SMTP)
	case rc.Exec != nil:
		return "exec " + rc.Exec.Program
	}
	return rc.Kind
}

// PutRoute checks a route and stores it (putRoute); the monitor picks it
// up from the store.
func (s *Server) PutRoute(r state.Route) (state.Route, error) { return putRoute(s.db, r, time.Now()) }

// TestRoute sends a test notification through the receivers of a route.
func (s *Server) TestRoute(ctx context.Context, name string) (web.RouteTest, error) {
	return testRoute(ctx, s.db, name, s.cfg.receiverRoots, time.Now())
}

func (b *offlineBackend) PutRoute(r state.Route) (state.Route, error) {
	return putRoute(b.db, r, time.Now())
}

// TestRoute needs no running helen: the receivers are built here, from
// the stored route.
func (b *offlineBackend) TestRoute(ctx context.Context, name string) (web.RouteTest, error) {
	return testRoute(ctx, b.db, name, nil, time.Now())
}

// Ack stores an acknowledgement through the monitor, which knows the
// problems, the routes and the silences (monitor.Monitor.Ack).
func (s *Server) Ack(a state.Ack) (state.Ack, error) { return s.monitor.Ack(a) }

// Ack stores an acknowledgement of a problem as the store has it, its
// notifications left for the next helen serve to deliver.
func (b *offlineBackend) Ack(a state.Ack) (state.Ack, error) {
	return monitor.StoredAck(b.db, a, slog.New(slog.DiscardHandler))
}
