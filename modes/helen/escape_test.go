package helen

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// spoof is a message that, printed raw, turns a CRITICAL row into a green
// "OK everything fine": a color, a carriage return back to the start of
// the line, a bell, and a right-to-left override that reorders the rest.
const spoof = "disk full\x1b[32m\rOK everything fine\a\u202eLACITIRC\u2066\u200f\u0085\x9b"

// rawControls returns the characters of out that a terminal would obey
// rather than show: controls other than the line feeds that end lines, C1
// controls, format characters, and bytes that are not UTF-8.
func rawControls(out string) []string {
	var found []string
	for i, r := range out {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(out[i:]); size == 1 {
				found = append(found, "invalid UTF-8")
			}
		case r == '\n':
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r) && r != '\u200d' && r != '\u200c', r == '\u2028', r == '\u2029':
			found = append(found, string(r))
		}
	}
	return found
}

// TestNoTerminalInjection: an agent's message with ESC[32m, \r, \a, bidi
// controls and C1 controls, through helen status, history, events and run,
// comes out escaped, with no raw control in the output, and its row still
// says CRITICAL.
func TestNoTerminalInjection(t *testing.T) {
	h := startHelen(t, server.Config{})
	events, unsubscribe := h.srv.Subscribe(16)
	defer unsubscribe()
	a := startAgent(t, h, "web-1", behavior{Answer: func(wire.Message) []byte {
		return result.Doc{Status: result.Critical, Message: spoof,
			Metrics: []result.Metric{{Name: "used\x1b[2J", Value: 99, Unit: "%\u202e"}}}.Encode(wire.MaxBlob)
	}})
	a.Ready()
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "disk", Check: "disk", Every: time.Second}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, "web-1 critical", func(ev state.Event) bool { return ev.Agent == "web-1" && ev.To == "critical" })
	data := "--data=" + h.dir
	for _, cmd := range [][]string{
		{"status", data},
		{"history", data, "web-1", "disk"},
		{"events", data},
		{"run", data, "web-1", "disk"},
	} {
		t.Run(cmd[0], func(t *testing.T) {
			out, code := helenCLI(t, cmd...)
			if cmd[0] == "run" && code != 2 || cmd[0] != "run" && code != 0 {
				t.Fatalf("exit %d, printed %q", code, out)
			}
			if raw := rawControls(out); len(raw) > 0 {
				t.Errorf("raw controls %q in %q", raw, out)
			}
			if !strings.Contains(out, "CRITICAL") {
				t.Errorf("no CRITICAL in %q", out)
			}
			if want := `disk full\x1b[32m\rOK everything fine\a\u202eLACITIRC`; !strings.Contains(out, want) {
				t.Errorf("%q does not show the message escaped, %s", out, want)
			}
		})
	}
	// What an operator gave a schedule is shown escaped too.
	if _, err := h.srv.PutSchedule(state.Schedule{Name: "note", Check: "c\u202ed", Every: time.Hour,
		Args: json.RawMessage("{\"note\":\"\u202e\u0085\"}")}); err != nil {
		t.Fatal(err)
	}
	out, code := helenCLI(t, "schedule", "list", data)
	if raw := rawControls(out); code != 0 || len(raw) > 0 || !strings.Contains(out, `c\u202ed`) {
		t.Errorf("schedule list: exit %d, raw controls %q in %q", code, raw, out)
	}

	// JSON stays JSON, with the message as the agent sent it (but for the
	// byte that is not UTF-8, which JSON cannot carry), and safe to print.
	out, code = helenCLI(t, "history", data, "--json", "web-1", "disk")
	var rs []state.Result
	if err := json.Unmarshal([]byte(out), &rs); err != nil || code != 0 || len(rs) == 0 || rs[0].Message != strings.ToValidUTF8(spoof, "\ufffd") {
		t.Fatalf("history --json: exit %d, %v, %q", code, err, out)
	}
	if raw := rawControls(out); len(raw) > 0 {
		t.Errorf("raw controls %q in the JSON %q", raw, out)
	}
}
