package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/equus-monitoring/equus/state"
)

// The events and notifications pages, /events and /notifications: newest
// first, in pages of listPer (cursor), filtered by agent and schedule
// (globs), state (an event's new status, a delivery's state) and since
// (a duration back from now, or RFC 3339).

const listPer = 50

// listFilter is the query of a list page.
type listFilter struct {
	Agent, Schedule, State, Since, Cursor string
	since                                 time.Time
}

func parseListFilter(v url.Values, now time.Time) (listFilter, string) {
	f := listFilter{Agent: v.Get("agent"), Schedule: v.Get("schedule"), State: v.Get("state"), Since: v.Get("since"), Cursor: v.Get("cursor")}
	for _, s := range []string{f.Agent, f.Schedule, f.State, f.Since, f.Cursor} {
		if len(s) > maxFilter {
			return listFilter{}, "A filter is at most 256 bytes."
		}
	}
	for _, g := range []string{f.Agent, f.Schedule} {
		if _, err := path.Match(g, ""); err != nil {
			return listFilter{}, "Not a glob: " + g
		}
	}
	if f.Since != "" {
		if d, err := time.ParseDuration(f.Since); err == nil && d > 0 {
			f.since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339, f.Since); err == nil {
			f.since = t
		} else {
			return listFilter{}, "Since is a duration back from now (24h) or an RFC 3339 time."
		}
	}
	return f, ""
}

func (f listFilter) matches(agent, schedule string) bool {
	if ok, _ := path.Match(f.Agent, agent); f.Agent != "" && !ok {
		return false
	}
	if ok, _ := path.Match(f.Schedule, schedule); f.Schedule != "" && !ok {
		return false
	}
	return true
}

// next is the link of the page from cursor c.
func (f listFilter) next(base, c string) string {
	v := url.Values{}
	for k, s := range map[string]string{"agent": f.Agent, "schedule": f.Schedule, "state": f.State, "since": f.Since, "cursor": c} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return base + "?" + v.Encode()
}

type listPage struct {
	frame
	Filter listFilter
	Events []state.Event
	Notes  []deliveryLine
	States []state.NotificationState
	Next   string
	Count  map[state.NotificationState]int
}

func (s *Console) eventsPage(w http.ResponseWriter, r *http.Request, v viewer) {
	page := listPage{frame: s.frame(v, "Events", "events", "")}
	f, bad := parseListFilter(r.URL.Query(), page.Now)
	page.Filter, page.Error = f, bad
	code := http.StatusOK
	if bad != "" {
		code = http.StatusBadRequest
	}
	match := func(e *state.Event) bool { return f.matches(e.Agent, e.Schedule) && (f.State == "" || e.To == f.State) }
	evs, next, err := s.events(match, state.Query{Since: f.since, After: f.Cursor}, listPer)
	if errors.Is(err, state.ErrInvalid) {
		page.Error, code = "No such page: a cursor is one of this page's links.", http.StatusBadRequest
		evs, next, err = s.events(match, state.Query{Since: f.since}, listPer)
	}
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "events", err)
		return
	}
	page.Events = evs
	if next != "" {
		page.Next = f.next("/events", next)
	}
	s.render(w, code, "events", page)
}

func (s *Console) notificationsPage(w http.ResponseWriter, r *http.Request, v viewer) {
	page := listPage{frame: s.frame(v, "Notifications", "notifications", ""),
		States: []state.NotificationState{state.NotifyPending, state.NotifyRetrying, state.NotifyDelivered, state.NotifyExpired}}
	f, bad := parseListFilter(r.URL.Query(), page.Now)
	page.Filter, page.Error = f, bad
	code := http.StatusOK
	if bad != "" {
		code = http.StatusBadRequest
	}
	stats, err := s.store.OutboxStats()
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "outbox", err)
		return
	}
	page.Count = stats.Count
	q := state.NotificationQuery{Query: state.Query{Since: f.since, After: f.Cursor}, State: state.NotificationState(f.State)}
	scanned := 0
	for scanned < maxScan && len(page.Notes) < listPer {
		q.Limit = 500
		ns, cursors, err := s.store.Notifications(q)
		if errors.Is(err, state.ErrInvalid) {
			page.Error, code = "No such page: a state is pending, retrying, delivered or expired, and a cursor one of this page's links.", http.StatusBadRequest
			q.State, q.After, page.Filter.State = "", "", ""
			continue
		}
		if err != nil {
			s.fail(w, v, http.StatusInternalServerError, "notifications", err)
			return
		}
		for i, n := range ns {
			if f.matches(n.Agent, n.Schedule) {
				page.Notes = append(page.Notes, deliveryLineOf(n))
				if len(page.Notes) == listPer {
					if i < len(ns)-1 || len(ns) == q.Limit {
						page.Next = f.next("/notifications", cursors[i])
					}
					break
				}
			}
		}
		scanned += len(ns)
		if len(ns) < q.Limit || len(page.Notes) == listPer {
			break
		}
		q.After = cursors[len(cursors)-1]
		if scanned >= maxScan {
			page.Next = f.next("/notifications", q.After)
		}
	}
	s.render(w, code, "notifications", page)
}

// deliveryLine is a delivery with the kind and status its document tells.
type deliveryLine struct {
	state.Notification
	Kind, Status string
}

func deliveryLineOf(n state.Notification) deliveryLine {
	var doc struct{ Kind, Status string }
	if json.Unmarshal(n.Doc, &doc) != nil {
		doc.Kind = "?"
	}
	return deliveryLine{Notification: n, Kind: doc.Kind, Status: doc.Status}
}
