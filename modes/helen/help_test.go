package helen

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/modes/setup"
)

var updateHelp = flag.Bool("update-help", false, "rewrite testdata/help.golden from the commands' --help")

// TestHelpGolden: the --help of every helen command is what
// testdata/help.golden holds, byte for byte: the command line is a
// contract (docs/DESIGN.md), which a change to how the commands are
// written must not change. After a change meant to change it, run the
// test with -update-help.
func TestHelpGolden(t *testing.T) {
	cmds := [][]string{{}, {"serve"}, {"token"}, {"issue"}, {"agents"}, {"revoke"}, {"forget"}, {"run"}, {"history"},
		{"schedule"}, {"schedule", "add"}, {"schedule", "list"}, {"schedule", "rm"}, {"status"}, {"events"}, {"reload"},
		{"silence"}, {"silence", "add"}, {"silence", "list"}, {"silence", "rm"}, {"ack"}, {"unack"},
		{"notify"}, {"notify", "add"}, {"notify", "list"}, {"notify", "rm"}, {"notify", "test"}, {"notifications"},
		{"shell"}, {"exec"}, {"sessions"}, {"sessions", "play"}, {"migrate"}}
	var b strings.Builder
	for _, cmd := range cmds {
		out, code := helenCLI(t, append(cmd, "--help")...)
		// The default data directory is the machine's.
		out = strings.ReplaceAll(out, setup.DataDir("helen"), "DATA")
		b.WriteString("=== equus helen " + strings.Join(cmd, " ") + " --help\n" + out)
		if code != 0 {
			t.Errorf("helen %v --help: exit %d", cmd, code)
		}
	}
	golden := filepath.Join("testdata", "help.golden")
	if *updateHelp {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("the commands' --help differ from %s (run with -update-help if meant):\n%s", golden, got)
	}
}
