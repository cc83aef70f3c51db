package helen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// openOffline opens helen's database for a command run while no helen is
// running, its check bounded by checkTimeout (0: the default). It never
// makes one: only helen serve does.
func openOffline(dataDir string, checkTimeout time.Duration) (*state.DB, error) {
	return openStore(dataDir, state.Options{CheckTimeout: checkTimeout, Existing: true})
}

// withHelen calls f with a client of the API of the helen of --data: its
// admin socket when it runs. When none runs and offline is true (the
// command can work without one), the API is served in this process over
// the data directory, opened here: the command sends the same requests
// and gets the same answers from the same handler either way. A
// directory that is no helen's is a usage error, online or offline.
func withHelen(c *cli.Context, offline bool, f func(*adminClient) error) error {
	dir := c.String("data")
	a, notRunning := dialAdmin(dir)
	if notRunning == nil {
		defer a.close()
		return f(a)
	}
	if !errors.Is(notRunning, errNotRunning) {
		return notRunning
	}
	if derr := checkDataDir(dir); errors.Is(derr, errNotHelenDir) {
		return setup.Usagef(c, "%v", derr)
	} else if derr != nil {
		return derr
	}
	if !offline {
		return notRunning
	}
	db, err := openOffline(dir, c.Duration("db-check-timeout"))
	if err != nil {
		return err
	}
	defer db.Close()
	if msg, level, args := checkLine(db); level > slog.LevelInfo {
		line := "equus: " + msg
		for i := 0; i+1 < len(args); i += 2 {
			line += fmt.Sprintf(" %v=%v", args[i], args[i+1])
		}
		fmt.Fprintln(c.App.ErrWriter, line)
	}
	b, err := newOfflineBackend(db, dir, c.String("checks"), notRunning)
	if err != nil {
		return err
	}
	return f(inProcess(newAPI(db, b, 0)))
}

// printJSON prints v as indented JSON, with the characters that could
// steer a terminal in its strings escaped (tty.JSON).
func printJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(tty.JSON(b.Bytes()))
	return err
}

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "make an enrollment token and print the command that joins a machine with it",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.IntFlag{Name: "uses", Value: 1, Usage: "let `N` agents enroll with it", EnvVars: []string{"HELEN_TOKEN_USES"}},
			&cli.DurationFlag{Name: "ttl", Value: 24 * time.Hour, Usage: "keep it valid for `DURATION`", EnvVars: []string{"HELEN_TOKEN_TTL"}},
			&cli.StringFlag{Name: "agent", Usage: "make it enroll agent `NAME` alone, even one enrolled already (a machine set up anew); " +
				"without it, a token enrolls only names helen does not know yet", EnvVars: []string{"HELEN_TOKEN_AGENT"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			req := tokenRequest{Uses: c.Int("uses"), TTL: Duration(c.Duration("ttl")), Agent: c.String("agent")}
			var resp tokenResponse
			err := withHelen(c, true, func(a *adminClient) error {
				return a.do(c.Context, http.MethodPost, "/v1/tokens", req, &resp)
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, resp)
			}
			agent := ""
			if resp.Agent != "" {
				agent = ", for agent " + resp.Agent
			}
			fmt.Fprintf(c.App.Writer, "token: %s\nuses: %d, expires %s%s\n", resp.Token, resp.Uses, resp.Expires.Local().Format(time.RFC3339), agent)
			if resp.Helen != "" { // a helen of an earlier version does not say
				fmt.Fprintln(c.App.Writer, tty.Line(advertisement{Addr: resp.Helen, From: resp.HelenFrom}.explain()))
			}
			fmt.Fprintf(c.App.Writer, "join a machine, as root on it:\n  %s\n", resp.Join)
			return nil
		},
	}
}

func issueCommand() *cli.Command {
	return &cli.Command{
		Name:      "issue",
		Usage:     "write an agent certificate for offline enrollment: ca.pem, NAME.pem, NAME-key.pem; it replaces any certificate NAME had",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.StringFlag{Name: "out", Usage: "`DIR` to write the files to", Required: true, EnvVars: []string{"HELEN_ISSUE_OUT"}},
		},
		Action: func(c *cli.Context) error {
			name := c.Args().First()
			var resp issueResponse
			err := withHelen(c, true, func(a *adminClient) error {
				path, err := agentPath(name, "/certificate")
				if err != nil {
					return err
				}
				return a.do(c.Context, http.MethodPost, path, nil, &resp)
			})
			if err != nil {
				return err
			}
			out := c.String("out")
			files := []struct {
				name string
				data string
				mode os.FileMode
			}{
				{"ca.pem", resp.CA, 0o644},
				{name + ".pem", resp.Cert, 0o644},
				{name + "-key.pem", resp.Key, 0o600},
			}
			for _, f := range files {
				if err := pki.WritePEMFile(filepath.Join(out, f.name), []byte(f.data), f.mode); err != nil {
					return err
				}
			}
			fmt.Fprintf(c.App.Writer, "wrote %s, %s, %s in %s\n", files[0].name, files[1].name, files[2].name, out)
			return nil
		},
	}
}

func agentsCommand() *cli.Command {
	return &cli.Command{
		Name:  "agents",
		Usage: "list the agents helen knows",
		Flags: []cli.Flag{dataFlag(), dbCheckFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			var views []AgentView
			err := withHelen(c, true, func(a *adminClient) error {
				pages, err := listPages[AgentView](c.Context, a, "/v1/agents", 0)
				views = firstOf(pages, 0)
				return err
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, views)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tVERSION\tADDRESS\tLAST SEEN")
			for _, v := range views {
				st := "down"
				switch {
				case v.Revoked:
					st = "revoked"
				case v.Connected:
					st = "up"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", tty.Line(v.Name), st, dash(v.Version), dash(v.Addr), since(v.LastSeen))
			}
			return tw.Flush()
		},
	}
}

func revokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "revoke an agent: close its connection and refuse it from now on",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{dataFlag(), dbCheckFlag()},
		Action: func(c *cli.Context) error {
			name := c.Args().First()
			err := withHelen(c, true, func(a *adminClient) error {
				path, err := agentPath(name, "/revoke")
				if err != nil {
					return err
				}
				var out map[string]string
				return a.do(c.Context, http.MethodPost, path, nil, &out)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "revoked %s\n", name)
			return nil
		},
	}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a check on an agent now; exit with its Nagios code",
		ArgsUsage: "AGENT CHECK [ARGS_JSON]",
		// Its exit status is the result's Nagios code, so a usage error
		// is unknown, 3.
		OnUsageError: setup.NagiosOnUsageError,
		Flags: []cli.Flag{
			dataFlag(),
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "how long to wait for the result", EnvVars: []string{"HELEN_RUN_TIMEOUT"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			agent, timeout := c.Args().Get(0), c.Duration("timeout")
			req := runRequest{Check: c.Args().Get(1), Timeout: Duration(timeout)}
			if a := c.Args().Get(2); a != "" {
				if !json.Valid([]byte(a)) {
					return setup.Usagef(c, "ARGS_JSON is not valid JSON")
				}
				req.Args = json.RawMessage(a)
			}
			var doc result.Doc
			ctx, cancel := context.WithTimeout(c.Context, timeout+10*time.Second)
			defer cancel()
			err := withHelen(c, false, func(a *adminClient) error {
				path, err := agentPath(agent, "/run")
				if err != nil {
					return err
				}
				return a.do(ctx, http.MethodPost, path, req, &doc)
			})
			if err != nil {
				doc = result.Unknownf("%v", err)
			}
			if c.Bool("json") {
				printJSON(c.App.Writer, doc)
			} else {
				// As a Nagios plugin prints it: the line, then the long
				// output, so that helen run can serve as a plugin itself;
				// what could steer the terminal is escaped.
				fmt.Fprintln(c.App.Writer, tty.Text(doc.Text()))
			}
			return cli.Exit("", doc.Status.Code())
		},
	}
}

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "print an agent's results, newest first: of every check, or those whose schedule or check is NAME",
		ArgsUsage: "AGENT [NAME]",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.IntFlag{Name: "limit", Value: defaultHistoryLimit, Usage: "at most `N` results", EnvVars: []string{"HELEN_HISTORY_LIMIT"}},
			&cli.BoolFlag{Name: "long", Aliases: []string{"l"}, Usage: "print the long output of each result under its message", EnvVars: []string{"HELEN_HISTORY_LONG"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			agent, name, limit := c.Args().Get(0), c.Args().Get(1), c.Int("limit")
			if limit <= 0 {
				limit = defaultHistoryLimit
			}
			var rs []state.Result
			err := withHelen(c, true, func(a *adminClient) error {
				q := url.Values{"agent": {agent}}
				if name != "" {
					q.Set("name", name)
				}
				pages, err := listPages[state.Result](c.Context, a, "/v1/history?"+q.Encode(), limit)
				rs = firstOf(pages, limit)
				return err
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, rs)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tCHECK\tSCHEDULE\tSTATUS\tMESSAGE")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\n", r.Time.Local().Format("2006-01-02 15:04:05"), tty.Line(r.Check), dash(r.Schedule),
					strings.ToUpper(r.Status), oneLine(r.Message), longNote(r.LongOutput, c.Bool("long")))
				if c.Bool("long") {
					writeLong(tw, r.LongOutput)
				}
			}
			return tw.Flush()
		},
	}
}

// longNote says how many lines of long output a row of a table leaves
// out: " (+3 lines)", or "" for none or when they are shown.
func longNote(long string, shown bool) string {
	if long == "" || shown {
		return ""
	}
	if n := strings.Count(long, "\n") + 1; n > 1 {
		return fmt.Sprintf(" (+%d lines)", n)
	}
	return " (+1 line)"
}

// writeLong writes the lines of a long output under the last column of a
// table of four, so that they stand indented under the message. Their
// tabs are expanded, since the table's writer would take them for cells,
// and what could steer the terminal is escaped.
func writeLong(tw io.Writer, long string) {
	if long == "" {
		return
	}
	for _, line := range strings.Split(long, "\n") {
		fmt.Fprintf(tw, "\t\t\t\t  %s\n", tty.Line(expandTabs(line)))
	}
}

// expandTabs replaces the tabs of a line with spaces to the next multiple
// of 8 columns.
func expandTabs(line string) string {
	if !strings.Contains(line, "\t") {
		return line
	}
	var b strings.Builder
	col := 0
	for _, r := range line {
		if r == '\t' {
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
			continue
		}
		b.WriteRune(r)
		col++
	}
	return b.String()
}

// dash is s for a field of a table, "-" when empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return tty.Line(s)
}

func since(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// oneLine is a message for a field of a table or a line: escaped (tty.Line),
// and cut to 120 bytes.
func oneLine(s string) string { return tty.Short(s, 120) }
