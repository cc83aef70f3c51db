package stage0

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/setup"
)

func TestLineWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		out    string
		ready  []string
	}{
		{"ready-alone", []string{"ready 1.2.3\n"}, "", []string{"1.2.3"}},
		{"passes-others", []string{"hello\nready 1.0.0\nbye\n"}, "hello\nbye\n", []string{"1.0.0"}},
		{"split-writes", []string{"rea", "dy 2.0.0", "\r\nx", "y\n"}, "xy\n", []string{"2.0.0"}},
		{"not-a-prefix", []string{"not ready 1.0.0\nready\n"}, "not ready 1.0.0\nready\n", nil},
		{"partial-kept", []string{"abc"}, "", nil},
		{"long-line", []string{strings.Repeat("x", maxLine+1)}, strings.Repeat("x", maxLine+1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			var ready []string
			w := &lineWriter{out: &out, line: func(l string) bool {
				v, ok := strings.CutPrefix(l, "ready ")
				if ok {
					ready = append(ready, v)
				}
				return ok
			}}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write: %d, %v", n, err)
				}
			}
			if out.String() != tt.out || !slices.Equal(ready, tt.ready) {
				t.Errorf("out %q ready %q, want %q %q", out.String(), ready, tt.out, tt.ready)
			}
		})
	}
}

func TestChildReadyKeepsFirst(t *testing.T) {
	ch := &child{ready: make(chan string, 1)}
	if !ch.line("ready 1.0.0") || !ch.line("ready 2.0.0") || ch.line("other") {
		t.Fatal("line did not tell the ready lines")
	}
	if v := <-ch.ready; v != "1.0.0" {
		t.Fatalf("ready %q, want the first one", v)
	}
}

// The agent gets the agent's flags that were set, the token in its
// environment, the data directory always, and none of stage0's own flags.
func TestAgentArgs(t *testing.T) {
	t.Setenv("EQUUS_NAME", "from-env")
	var args, env []string
	cmd := Command("1.0.0")
	cmd.Action = func(c *cli.Context) error {
		args, env = agentArgs(c), agentEnv(c)
		return nil
	}
	app := &cli.App{Name: "equus", Flags: setup.GlobalFlags(), Commands: []*cli.Command{cmd}}
	err := app.Run([]string{"equus", "--log-level", "debug", "stage0",
		"--helen", "helen.example:7480", "--helen", "h2.example:7480,h3.example:7480", "--ca-pin", "sha256:00", "--token", "s3cret",
		"--exec-dir", "/opt/a", "--exec-dir", "/opt/b", "--insecure-plaintext", "--concurrency", "4",
		"--allow-wrappers", "negate,urlize", "--no-exec",
		"--update-key", "RWQ", "--ready-timeout", "5s", "--restart-backoff", "2s"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--log-level=debug", "--log-format=text", "equus",
		"--helen=helen.example:7480", "--helen=h2.example:7480", "--helen=h3.example:7480", "--ca-pin=sha256:00", "--name=from-env",
		"--concurrency=4", "--insecure-plaintext=true", "--exec-dir=/opt/a", "--exec-dir=/opt/b",
		"--allow-wrappers=negate", "--allow-wrappers=urlize", "--no-exec=true",
		"--data=" + setup.DataDir("equus")}
	if !slices.Equal(args, want) {
		t.Errorf("args\n got %q\nwant %q", args, want)
	}
	if !slices.Equal(env, []string{"EQUUS_CONFIG=", "EQUUS_TOKEN=s3cret"}) {
		t.Errorf("env %q", env)
	}
}
