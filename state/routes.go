package state

import (
	"encoding/json"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bounds of what a route holds. A route is an operator's input, refused
// with ErrInvalid past them, never cut.
const (
	// MaxRoutes is the most routes kept: the evaluation of a status
	// change walks them all.
	MaxRoutes = 1000
	// MaxReceivers is the most receivers of one route.
	MaxReceivers = 16
	// MaxTemplate is the most bytes of a webhook's template.
	MaxTemplate = 64 << 10
	// MaxReceiverTimeout is the longest timeout of one delivery.
	MaxReceiverTimeout = 5 * time.Minute
	// MaxRecipients is the most addresses of an email receiver.
	MaxRecipients = 100
)

// Kinds of receiver.
const (
	KindWebhook      = "webhook"
	KindAlertmanager = "alertmanager"
	KindEmail        = "email"
	KindExec         = "exec"
)

// Receiver is where a route sends its notifications: Kind names it, and the
// member of that name says how. Stored as {"kind":K, K:{...}}, so that a
// kind added later is one more member, and a file written by a later
// program still reads (as a receiver of a kind this one does not know,
// which PutRoute refuses to write).
type Receiver struct {
	Kind         string                `json:"kind"`
	Webhook      *WebhookReceiver      `json:"webhook,omitempty"`
	Alertmanager *AlertmanagerReceiver `json:"alertmanager,omitempty"`
	Email        *EmailReceiver        `json:"email,omitempty"`
	Exec         *ExecReceiver         `json:"exec,omitempty"`
}

// WebhookReceiver POSTs a JSON document, or the text of Template.
type WebhookReceiver struct {
	URL string `json:"url"`
	// Template is a Go text/template's text: the body, instead of the
	// JSON document. "" is the document.
	Template string `json:"template,omitempty"`
	// SecretFile names the file of the HMAC key, which stays out of the
	// database. "" is no signature.
	SecretFile string        `json:"secret_file,omitempty"`
	Timeout    time.Duration `json:"timeout,omitempty"` // 0 is the receiver's default
}

// AlertmanagerReceiver pushes alerts to an Alertmanager's API at URL.
type AlertmanagerReceiver struct {
	URL string `json:"url"`
}

// EmailReceiver mails To through the SMTP server at SMTP (host:port).
type EmailReceiver struct {
	To           []string `json:"to"`
	SMTP         string   `json:"smtp"`
	User         string   `json:"user,omitempty"`
	PasswordFile string   `json:"password_file,omitempty"` // the password stays out of the database
	From         string   `json:"from,omitempty"`
}

// ExecReceiver runs Program with the notification on its standard input.
type ExecReceiver struct {
	Program string        `json:"program"`
	Timeout time.Duration `json:"timeout,omitempty"` // 0 is the receiver's default
}

// RouteStatuses are the values a route's Statuses may hold: a problem's
// statuses, and the shell sessions' events, which only a route that
// names them takes.
var RouteStatuses = []string{"critical", "warning", "unknown", EventSessionStarted, EventSessionEnded}

// Route says which notifications go to which receivers: those of agents
// matching Agents and schedules matching Schedules (path.Match patterns;
// "" matches every name), of a problem whose status is among Statuses
// (none: every problem), and the shell sessions' starts and ends its
// Statuses name.
type Route struct {
	Name      string     `json:"name"`
	Receivers []Receiver `json:"receivers"`
	Agents    string     `json:"agents,omitempty"`
	Schedules string     `json:"schedules,omitempty"`
	Statuses  []string   `json:"statuses,omitempty"` // among RouteStatuses
	// Renotify is how often a problem not acknowledged is told again; 0
	// is never.
	Renotify time.Duration `json:"renotify,omitempty"`
	// NoRecovery reports whether a recovery goes unsaid.
	NoRecovery bool      `json:"no_recovery,omitempty"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
}

// validate returns an error wrapping ErrInvalid that says what is wrong
// with r, or nil.
func (r Route) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	switch {
	case !validName(r.Name):
		return bad("name %q", r.Name)
	case len(r.Receivers) == 0:
		return bad("no receiver")
	case len(r.Receivers) > MaxReceivers:
		return bad("%d receivers, at most %d", len(r.Receivers), MaxReceivers)
	case !validPattern(r.Agents):
		return bad("agents pattern %q", r.Agents)
	case !validPattern(r.Schedules):
		return bad("schedules pattern %q", r.Schedules)
	case r.Renotify < 0:
		return bad("renotify %v", r.Renotify)
	}
	for _, s := range r.Statuses {
		if !slices.Contains(RouteStatuses, s) {
			return bad("status %q: not critical, warning, unknown, %s or %s", s, EventSessionStarted, EventSessionEnded)
		}
	}
	for i, rc := range r.Receivers {
		if err := rc.validate(); err != nil {
			return fmt.Errorf("receiver %d: %w", i+1, err)
		}
	}
	return nil
}

// validPattern reports whether p is "" or a well-formed path.Match
// pattern.
func validPattern(p string) bool {
	_, err := path.Match(p, "")
	return err == nil && len(p) <= 1024
}

func (rc Receiver) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: "+format, append([]any{ErrInvalid, rc.Kind}, args...)...)
	}
	set := 0
	for _, p := range []bool{rc.Webhook != nil, rc.Alertmanager != nil, rc.Email != nil, rc.Exec != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("%w: a receiver of kind %q with %d specifications, want its own one", ErrInvalid, rc.Kind, set)
	}
	switch {
	case rc.Kind == KindWebhook && rc.Webhook != nil:
		w := rc.Webhook
		switch {
		case !validURL(w.URL):
			return bad("url %q: not http or https", w.URL)
		case len(w.Template) > MaxTemplate:
			return bad("template of %d bytes, at most %d", len(w.Template), MaxTemplate)
		case !validTimeout(w.Timeout):
			return bad("timeout %v: at most %v", w.Timeout, MaxReceiverTimeout)
		case len(w.SecretFile) > 4096:
			return bad("secret file name too long")
		}
	case rc.Kind == KindAlertmanager && rc.Alertmanager != nil:
		if !validURL(rc.Alertmanager.URL) {
			return bad("url %q: not http or https", rc.Alertmanager.URL)
		}
	case rc.Kind == KindEmail && rc.Email != nil:
		e := rc.Email
		if len(e.To) == 0 || len(e.To) > MaxRecipients {
			return bad("%d addresses, want 1 to %d", len(e.To), MaxRecipients)
		}
		addrs := e.To
		if e.From != "" {
			addrs = append(slices.Clone(addrs), e.From)
		}
		for _, a := range addrs {
			if _, err := mail.ParseAddress(a); err != nil {
				return bad("address %q: %v", a, err)
			}
		}
		if host, port, err := net.SplitHostPort(e.SMTP); err != nil || host == "" || port == "" {
			return bad("smtp %q: want host:port", e.SMTP)
		}
		if len(e.User) > 1024 || len(e.PasswordFile) > 4096 {
			return bad("user or password file name too long")
		}
	case rc.Kind == KindExec && rc.Exec != nil:
		switch {
		case rc.Exec.Program == "" || len(rc.Exec.Program) > 4096:
			return bad("program %q", rc.Exec.Program)
		case !validTimeout(rc.Exec.Timeout):
			return bad("timeout %v: at most %v", rc.Exec.Timeout, MaxReceiverTimeout)
		}
	default:
		return fmt.Errorf("%w: receiver of kind %q: unknown, or without its specification", ErrInvalid, rc.Kind)
	}
	return nil
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && len(s) <= 4096
}

func validTimeout(d time.Duration) bool { return d >= 0 && d <= MaxReceiverTimeout }

// PutRoute creates the route r.Name or replaces it, keeping the creation
// time of the one it replaces. It refuses a new route beyond MaxRoutes.
func (db *DB) PutRoute(r Route) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("put route %q: %w", r.Name, err)
	}
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRoutes)
		if v := b.Get([]byte(r.Name)); v != nil {
			var old Route
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("decode route: %w", err)
			}
			r.Created = old.Created
		} else if n := b.Stats().KeyN; n >= MaxRoutes {
			return fmt.Errorf("%w: %d routes already, at most %d", ErrFull, n, MaxRoutes)
		}
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode route: %w", err)
		}
		return b.Put([]byte(r.Name), v)
	})
	if err != nil {
		return fmt.Errorf("put route %s: %w", r.Name, err)
	}
	db.notifyChanged()
	return nil
}

// Route returns the route called name, or ErrNotFound.
func (db *DB) Route(name string) (Route, error) {
	var r Route
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRoutes).Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &r)
	})
	if err != nil {
		return Route{}, fmt.Errorf("route %s: %w", name, err)
	}
	return r, nil
}

// Routes returns every route, by name.
func (db *DB) Routes() ([]Route, error) {
	var out []Route
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRoutes).ForEach(func(k, v []byte) error {
			var r Route
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode route %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	return out, nil
}

// DeleteRoute removes the route called name, or returns ErrNotFound. Its
// notifications not yet delivered stay in the outbox, to be delivered or
// expire: they were decided while it was in force.
func (db *DB) DeleteRoute(name string) error {
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRoutes)
		if b.Get([]byte(name)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("delete route %s: %w", name, err)
	}
	db.notifyChanged()
	return nil
}
