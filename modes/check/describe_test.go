package check

import (
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/lua"
)

var update = flag.Bool("update", false, "rewrite the reference in docs/checks.md from the checks' declarations")

// embeddedChecks returns the checks built into the binary, as Checks
// describes them from their declarations.
func embeddedChecks(t *testing.T) []lua.CheckInfo {
	t.Helper()
	rt, err := lua.New(lua.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	return rt.Checks()
}

func TestDescribe(t *testing.T) {
	dir := checkDir(t)
	hostile := dir + "/hostile.lua"
	if err := os.WriteFile(hostile, []byte(`return {description = "looks \27[32mOK", args = {
  x = {kind = "string", description = "moves \226\128\174 text"}}, run = function() end}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // lines, or parts of lines, in order
		stderr string   // substring
	}{
		{"http", []string{"--describe", "http"}, 0, []string{
			"http: HTTP(S) request: status, body content and latency (embedded)",
			"ARG               KIND       DEFAULT   DESCRIPTION",
			"url               string     required  the URL, http:// or https://",
			"expect            list       -         the status code wanted, or a list of them (not the body",
			"follow_redirects  boolean    true      follow redirects",
			"timeout_ms        number     10000     how long the request may take, in milliseconds",
		}, ""},
		{"thresholds", []string{"--describe", "disk"}, 0, []string{
			`crit        threshold  "90"     critical threshold for the used percentage`,
			`inode_crit  threshold  -        critical threshold for the percentage of inodes used; none by default`,
			`path        string     "/"      a path on the file system`,
		}, ""},
		{"overlay", []string{"--checks", dir, "--describe", "hostile"}, 0, []string{
			`hostile: looks \x1b[32mOK (` + hostile + ")",
			`x    string  -        moves \u202e text`,
		}, ""},
		{"undeclared", []string{"--checks", dir, "--describe", "says"}, 0, []string{
			"says: returns args.status and args.message", "It declares no args.",
		}, ""},
		{"unknown", []string{"--describe", "nosuch"}, 3, nil, `check: no check named "nosuch" (equus check --list shows them)`},
		{"unknown-escaped", []string{"--describe", "no\x1bsuch"}, 3, nil, `no check named "no\x1bsuch"`},
		{"broken", []string{"--checks", dir, "--describe", "broken"}, 3, nil, "check broken is broken (" + dir},
		{"no-name", []string{"--describe"}, 3, nil, "--describe takes the check NAME alone"},
		{"two-names", []string{"--describe", "http", "disk"}, 3, nil, "--describe takes the check NAME alone"},
		{"with-list", []string{"--list", "--describe"}, 3, nil, "--list and --describe go alone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q\nstdout:\n%s", code, stderr, tt.code, tt.stderr, stdout)
			}
			rest := stdout
			for _, want := range tt.stdout {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order):\n%s", want, stdout)
				}
				rest = rest[i+len(want):]
			}
			if strings.ContainsAny(stdout, "\x1b\u202e") {
				t.Errorf("stdout holds a raw control character:\n%q", stdout)
			}
		})
	}
}

// TestDescribeJSON checks that --describe --json prints the declaration
// of every built-in check as Checks reads it.
func TestDescribeJSON(t *testing.T) {
	for _, want := range embeddedChecks(t) {
		stdout, stderr, code := run(t, "--json", "--describe", want.Name)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", want.Name, code, stderr)
		}
		var got lua.CheckInfo
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("%s: %v\n%s", want.Name, err, stdout)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", want.Name, got, want)
		}
	}
}

// The reference of the built-in checks in docs/checks.md lies between
// these lines.
const (
	refBegin = "<!-- begin generated reference: go test ./modes/check -run TestChecksReference -update -->\n"
	refEnd   = "<!-- end generated reference -->\n"
)

// TestChecksReference fails when the reference of the built-in checks in
// docs/checks.md is not what their declarations make of it; -update
// rewrites it. It also wants every built-in check to declare its args and
// to describe each of them.
func TestChecksReference(t *testing.T) {
	checks := embeddedChecks(t)
	for _, c := range checks {
		if c.Err != "" || c.Description == "" {
			t.Errorf("%s: error %q, description %q", c.Name, c.Err, c.Description)
		}
		if len(c.Args) == 0 {
			t.Errorf("%s declares no args", c.Name)
		}
		for _, a := range c.Args {
			if a.Description == "" {
				t.Errorf("%s: arg %s has no description", c.Name, a.Name)
			}
		}
	}
	const path = "../../docs/checks.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), refBegin)
	old, after, ok2 := strings.Cut(rest, refEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s: no lines %q and %q around the reference", path, refBegin, refEnd)
	}
	want := "\n" + Reference(checks)
	if old == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(before+refBegin+want+refEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the reference of the built-in checks is not what their declarations say; run\n"+
		"  go test ./modes/check -run TestChecksReference -update\nwant:\n%s", path, want)
}
