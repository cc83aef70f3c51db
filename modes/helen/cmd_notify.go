package helen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/helen/monitor/notify"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state"
)

func notifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "notify",
		Usage: "send notifications of problems to receivers (routes): add, list, rm, test",
		Subcommands: []*cli.Command{
			notifyAddCommand(),
			notifyListCommand(),
			notifyRmCommand(),
			notifyTestCommand(),
		},
	}
}

func notifyAddCommand() *cli.Command {
	return &cli.Command{
		Name: "add",
		Usage: "add a route, or replace the one of that name: the notifications of the agents and schedules it matches go to its receivers, " +
			"each given by a flag (--webhook, --alertmanager, --email, --exec; several of each)",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.StringSliceFlag{Name: "webhook", Usage: "POST each notification to `URL` (https://, or http:// to a loopback address)", EnvVars: []string{"HELEN_NOTIFY_WEBHOOK"}},
			&cli.StringFlag{Name: "webhook-template", Usage: "the webhooks' body is what the Go text/template in `FILE` makes of the notification (docs/notify has Slack's, Teams', Discord's, ntfy's)", EnvVars: []string{"HELEN_NOTIFY_WEBHOOK_TEMPLATE"}},
			&cli.StringFlag{Name: "secret-file", Usage: "sign the webhooks' bodies with the key in `FILE` (HMAC-SHA256), which helen reads", EnvVars: []string{"HELEN_NOTIFY_SECRET_FILE"}},
			&cli.StringSliceFlag{Name: "alertmanager", Usage: "push alerts to the Alertmanager at `URL`", EnvVars: []string{"HELEN_NOTIFY_ALERTMANAGER"}},
			&cli.StringSliceFlag{Name: "email", Usage: "mail each notification to `ADDR` (with --smtp)", EnvVars: []string{"HELEN_NOTIFY_EMAIL"}},
			&cli.StringFlag{Name: "smtp", Usage: "the SMTP server of --email, `HOST:PORT`", EnvVars: []string{"HELEN_NOTIFY_SMTP"}},
			&cli.StringFlag{Name: "smtp-user", Usage: "log in to the SMTP server as `USER` (with --smtp-password-file)", EnvVars: []string{"HELEN_NOTIFY_SMTP_USER"}},
			&cli.StringFlag{Name: "smtp-password-file", Usage: "the SMTP password is in `FILE`, which helen reads", EnvVars: []string{"HELEN_NOTIFY_SMTP_PASSWORD_FILE"}},
			&cli.StringFlag{Name: "smtp-from", Usage: "the sender's `ADDR`", DefaultText: "equus@ and the host's name", EnvVars: []string{"HELEN_NOTIFY_SMTP_FROM"}},
			&cli.StringSliceFlag{Name: "exec", Usage: "run `PROGRAM` (an absolute path) with each notification on its standard input", EnvVars: []string{"HELEN_NOTIFY_EXEC"}},
			&cli.StringFlag{Name: "agents", Usage: "only the notifications of the agents whose names match `GLOB`", DefaultText: "every agent", EnvVars: []string{"HELEN_NOTIFY_AGENTS"}},
			&cli.StringFlag{Name: "schedules", Usage: "only those of the schedules whose names match `GLOB`", DefaultText: "every schedule", EnvVars: []string{"HELEN_NOTIFY_SCHEDULES"}},
			&cli.StringSliceFlag{Name: "statuses", Usage: "only the problems of these `STATUSES`: critical, warning, unknown; session-started, session-ended for shell sessions (only a route that names them)", DefaultText: "every problem", EnvVars: []string{"HELEN_NOTIFY_STATUSES"}},
			&cli.DurationFlag{Name: "renotify", Usage: "tell a problem not acknowledged again every `DURATION`", DefaultText: "never", EnvVars: []string{"HELEN_NOTIFY_RENOTIFY"}},
			&cli.BoolFlag{Name: "no-recovery", Usage: "do not tell recoveries", EnvVars: []string{"HELEN_NOTIFY_NO_RECOVERY"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			v, err := routeOf(c)
			if err != nil {
				return setup.Usagef(c, "%v", err)
			}
			return runNotifyAdd(c.Context, envOf(c), v)
		},
	}
}

// routeOf reads the route of notify add's flags, or says what is wrong
// with them: what helen would refuse, said before anything is sent.
func routeOf(c *cli.Context) (web.RouteView, error) {
	v := web.RouteView{Name: c.Args().First(), Agents: c.String("agents"), Schedules: c.String("schedules"),
		Renotify: web.Duration(c.Duration("renotify")), NoRecovery: c.Bool("no-recovery")}
	for _, g := range []string{"agents", "schedules"} {
		if _, err := path.Match(c.String(g), ""); err != nil {
			return v, fmt.Errorf("--%s %q: not a glob: %v", g, c.String(g), err)
		}
	}
	for _, s := range c.StringSlice("statuses") {
		for s := range strings.SplitSeq(s, ",") {
			if s = strings.TrimSpace(s); !slices.Contains(state.RouteStatuses, s) {
				return v, fmt.Errorf("--statuses: %q is not %s", s, strings.Join(state.RouteStatuses, ", "))
			}
			v.Statuses = append(v.Statuses, s)
		}
	}
	if c.Duration("renotify") < 0 {
		return v, fmt.Errorf("--renotify %v: want 0 (never) or more", c.Duration("renotify"))
	}
	var tmpl string
	if f := c.String("webhook-template"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return v, fmt.Errorf("--webhook-template: %v", err)
		}
		if len(b) > state.MaxTemplate {
			return v, fmt.Errorf("--webhook-template %s: %d bytes, at most %d", f, len(b), state.MaxTemplate)
		}
		if _, err := notify.ParseTemplate(filepath.Base(f), string(b)); err != nil {
			return v, fmt.Errorf("--webhook-template: %v", err)
		}
		tmpl = string(b)
	}
	hooks := c.StringSlice("webhook")
	if len(hooks) == 0 && (tmpl != "" || c.String("secret-file") != "") {
		return v, fmt.Errorf("--webhook-template and --secret-file are the webhooks': give --webhook URL")
	}
	secret := c.String("secret-file")
	if secret != "" {
		abs, err := filepath.Abs(secret)
		if err != nil {
			return v, fmt.Errorf("--secret-file: %v", err)
		}
		secret = abs
	}
	for _, h := range hooks {
		u, err := url.Parse(h)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			return v, fmt.Errorf("--webhook %q: want an https:// URL", h)
		case u.Scheme == "http" && !notify.IsLoopback(u.Host):
			return v, fmt.Errorf("--webhook %q: %v", h, server.ErrPlainWebhook)
		}
		v.Receivers = append(v.Receivers, web.ReceiverView{Kind: state.KindWebhook, Webhook: &web.WebhookView{URL: h, Template: tmpl, SecretFile: secret}})
	}
	for _, a := range c.StringSlice("alertmanager") {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return v, fmt.Errorf("--alertmanager %q: want an http:// or https:// URL", a)
		}
		v.Receivers = append(v.Receivers, web.ReceiverView{Kind: state.KindAlertmanager, Alertmanager: &state.AlertmanagerReceiver{URL: a}})
	}
	to := c.StringSlice("email")
	smtpSet := c.String("smtp") != "" || c.String("smtp-user") != "" || c.String("smtp-password-file") != "" || c.String("smtp-from") != ""
	switch {
	case len(to) > 0 && c.String("smtp") == "":
		return v, fmt.Errorf("--email needs --smtp HOST:PORT")
	case len(to) == 0 && smtpSet:
		return v, fmt.Errorf("the --smtp flags are --email's: give --email ADDR")
	case (c.String("smtp-user") == "") != (c.String("smtp-password-file") == ""):
		return v, fmt.Errorf("give --smtp-user and --smtp-password-file together")
	case len(to) > 0:
		pw := c.String("smtp-password-file")
		if pw != "" {
			abs, err := filepath.Abs(pw)
			if err != nil {
				return v, fmt.Errorf("--smtp-password-file: %v", err)
			}
			pw = abs
		}
		v.Receivers = append(v.Receivers, web.ReceiverView{Kind: state.KindEmail, Email: &state.EmailReceiver{To: to, SMTP: c.String("smtp"),
			User: c.String("smtp-user"), PasswordFile: pw, From: c.String("smtp-from")}})
	}
	for _, p := range c.StringSlice("exec") {
		if !filepath.IsAbs(p) {
			return v, fmt.Errorf("--exec %q: want an absolute path", p)
		}
		v.Receivers = append(v.Receivers, web.ReceiverView{Kind: state.KindExec, Exec: &web.ExecView{Program: p}})
	}
	if len(v.Receivers) == 0 {
		return v, fmt.Errorf("no receiver: give --webhook, --alertmanager, --email or --exec")
	}
	return v, nil
}

// runNotifyAdd adds route v, or replaces the one of its name.
func runNotifyAdd(ctx context.Context, e env, v web.RouteView) error {
	return query(ctx, e, ask[web.RouteView](http.MethodPost, "/v1/routes", v), func(w io.Writer, r web.RouteView) error {
		_, err := fmt.Fprintf(w, "route %s: %s\n", tty.Line(r.Name), routeLine(r))
		return err
	})
}

// routeLine says what a route takes and where it sends it.
func routeLine(r web.RouteView) string {
	var to []string
	for _, rc := range r.Receivers {
		to = append(to, receiverLine(rc))
	}
	agents, schedules, statuses := or(r.Agents, "*"), or(r.Schedules, "*"), "every problem"
	if len(r.Statuses) > 0 {
		statuses = strings.Join(r.Statuses, ",")
	}
	line := fmt.Sprintf("%s of schedules %s on agents %s to %s", statuses, tty.Line(schedules), tty.Line(agents), tty.Line(strings.Join(to, ", ")))
	if r.Renotify > 0 {
		line += fmt.Sprintf(", again every %s", time.Duration(r.Renotify))
	}
	if r.NoRecovery {
		line += ", no recoveries"
	}
	return line
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// receiverLine is a receiver in a few words, with no user info or query
// of a URL, which may hold a token.
func receiverLine(rc web.ReceiverView) string {
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
		s := "webhook " + redact(rc.Webhook.URL)
		if rc.Webhook.Template != "" {
			s += " (template)"
		}
		return s
	case rc.Alertmanager != nil:
		return "alertmanager " + redact(rc.Alertmanager.URL)
	case rc.Email != nil:
		return "email " + strings.Join(rc.Email.To, " ") + " via " + rc.Email.SMTP
	case rc.Exec != nil:
		return "exec " + rc.Exec.Program
	}
	return rc.Kind
}

func notifyListCommand() *cli.Command {
	return &cli.Command{
		Name:    "list",
		Aliases: []string{"ls"},
		Usage:   "list the routes",
		Flags:   []cli.Flag{dataFlag(), dbCheckFlag(), jsonFlag()},
		Action:  func(c *cli.Context) error { return runNotifyList(c.Context, envOf(c)) },
	}
}

// runNotifyList prints the routes.
func runNotifyList(ctx context.Context, e env) error {
	return query(ctx, e, askList[web.RouteView]("/v1/routes", 0), func(w io.Writer, rs []web.RouteView) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tAGENTS\tSCHEDULES\tSTATUSES\tRENOTIFY\tRECOVERY\tRECEIVERS")
		for _, r := range rs {
			statuses, renotify, recovery := "*", "never", "yes"
			if len(r.Statuses) > 0 {
				statuses = strings.Join(r.Statuses, ",")
			}
			if r.Renotify > 0 {
				renotify = time.Duration(r.Renotify).String()
			}
			if r.NoRecovery {
				recovery = "no"
			}
			var to []string
			for _, rc := range r.Receivers {
				to = append(to, receiverLine(rc))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tty.Line(r.Name), tty.Line(or(r.Agents, "*")), tty.Line(or(r.Schedules, "*")),
				statuses, renotify, recovery, tty.Line(strings.Join(to, ", ")))
		}
		return tw.Flush()
	})
}

func notifyRmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove a route (its notifications not yet delivered still are)",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{dataFlag(), dbCheckFlag()},
		Action:    func(c *cli.Context) error { return runNotifyRm(c.Context, envOf(c), c.Args().First()) },
	}
}

// runNotifyRm removes route name.
func runNotifyRm(ctx context.Context, e env, name string) error {
	return query(ctx, e, ask[map[string]string](http.MethodDelete, "/v1/routes/"+pathSegment(name), nil), func(w io.Writer, _ map[string]string) error {
		_, err := fmt.Fprintf(w, "removed route %s\n", name)
		return err
	})
}

func notifyTestCommand() *cli.Command {
	return &cli.Command{
		Name:      "test",
		Usage:     "send a test notification through each receiver of a route now, and print what each answered (helen need not run)",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{dataFlag(), dbCheckFlag(), jsonFlag()},
		Action:    func(c *cli.Context) error { return runNotifyTest(c.Context, envOf(c), c.Args().First()) },
	}
}

// errTestFailed is the error of a test that a receiver failed.
var errTestFailed = errors.New("a receiver failed the test")

// runNotifyTest tests route name, and fails when a receiver did.
func runNotifyTest(ctx context.Context, e env, name string) error {
	failed := false
	err := query(ctx, e, ask[web.RouteTest](http.MethodPost, "/v1/routes/"+pathSegment(name)+"/test", nil), func(w io.Writer, t web.RouteTest) error {
		for _, a := range t.Answers {
			line := tty.Line(a.Receiver) + ": "
			if a.Error != "" {
				failed = true
				line += "FAILED: " + oneLine(a.Error)
				if a.Answer != "" {
					line += " (" + oneLine(a.Answer) + ")"
				}
			} else {
				line += "ok: " + oneLine(or(a.Answer, "no answer"))
			}
			if _, err := fmt.Fprintln(w, line); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && failed {
		return errTestFailed
	}
	return err
}
