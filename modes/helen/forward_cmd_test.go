package helen

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/term"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/modes/helen/internal/helentest"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/state/pgstore"
	"github.com/equus-monitoring/equus/wire"
)

// TestCLIOnAnyHelen: helen run, reload, shell and exec asked of a helen of
// a shared store reach the agents another helen holds.
func TestCLIOnAnyHelen(t *testing.T) {
	if term.IsTerminal(int(os.Stdin.Fd())) {
		t.Skip("stdin is a terminal: helen shell would take it raw")
	}
	url := pgtest.DB(t)
	key := make([]byte, server.StoreKeySize)
	rand.Read(key)
	shared := func(id string) server.Config {
		return server.Config{Store: url, StoreKey: key, HelenID: id, PeerListen: "127.0.0.1:0"}
	}
	a := startHelen(t, shared("helen-a"))
	b := startHelen(t, shared("helen-b"))
	agents := []*helentest.ShellAgent{}
	for i, status := range []int{0, 0, 1} {
		agents = append(agents, helentest.StartShellAgent(t, b, fmt.Sprintf("web%d", i+1), helentest.ShellBehavior{Serve: commandShell(status)}))
	}
	st, err := pgstore.Open(context.Background(), url, pgstore.Options{Helen: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	poll(t, "helen-b to hold the agents and advertise its peer listener", func() bool {
		for _, name := range []string{"web1", "web2", "web3"} {
			if c, err := st.Owner(context.Background(), name); err != nil || !c.Held || c.Helen != "helen-b" {
				return false
			}
		}
		hs, _ := st.Helens(context.Background())
		for _, h := range hs {
			if h.ID == "helen-b" {
				return h.Addr == b.srv.PeerAddr()
			}
		}
		return false
	})
	data := "--data=" + a.dir

	if out, code := helenCLI(t, "run", data, "web1", "equus.ping"); code != 0 || !strings.Contains(out, "OK") {
		t.Errorf("run: exit %d, printed %q", code, out)
	}
	if out, code := helenCLI(t, "reload", data, "web2"); code != 0 {
		t.Errorf("reload: exit %d, printed %q", code, out)
	}
	poll(t, "web2 to get reload", func() bool {
		ms := agents[1].Received()
		return len(ms) > 0 && ms[len(ms)-1].Kind == wire.KindReload
	})
	if out, code := helenCLI(t, "shell", data, "web3", "--", "uname", "-a"); code != 1 || !strings.Contains(out, "ran uname -a\nsecond line\n") || !strings.Contains(out, "to stderr") {
		t.Errorf("shell: exit %d, printed %q", code, out)
	}
	out, code := helenCLI(t, "exec", data, "--agents=web*", "--", "id")
	for _, want := range []string{"web1: ran id\n", "web2: ran id\n", "web3: ran id\n", "3 agents, 2 ok, 1 failed", "web3: exit status 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("exec: exit %d, printed %q; want %q in it", code, out, want)
		}
	}
	if out, code := helenCLI(t, "run", data, "db9", "equus.ping"); code == 0 || !strings.Contains(out, "agent not connected: db9") {
		t.Errorf("run on an agent no helen holds: exit %d, printed %q", code, out)
	}
}
