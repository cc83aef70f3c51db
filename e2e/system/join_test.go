package system

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// joinToken is what `helen token --json` says of the join command.
type joinToken struct {
	Token     string `json:"token"`
	Join      string `json:"join"`
	Helen     string `json:"helen"`
	HelenFrom string `json:"helen_from"`
}

// flagOf returns the word after flag in a join command.
func flagOf(t *testing.T, join, flag string) string {
	t.Helper()
	words := strings.Fields(join)
	for i, w := range words[:len(words)-1] {
		if w == flag {
			return strings.Trim(words[i+1], "'")
		}
	}
	t.Fatalf("join command without %s: %s", flag, join)
	return ""
}

// TestJoinAdvertisesSAN: helen serve listening on every address with
// --san advertises the --san name with its port, says so, and records it;
// helen token, run while helen does (through the admin socket) and while
// it does not (from the data directory), prints that address in the join
// command and says where it comes from; agents dial it and join, with a
// token of either.
func TestJoinAdvertisesSAN(t *testing.T) {
	_, port, err := net.SplitHostPort(freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	data, httpAddr := t.TempDir(), freePort(t)
	san := "127.0.0.1" // a name this machine reaches helen at, and not its host name
	want := net.JoinHostPort(san, port)
	line := "agents will reach helen at " + want + " (from --san; set --advertise to change)"

	h := startHelen(t, data, ":"+port, httpAddr, "--san", san)
	h.listen = want
	online := tokenJSON(t, data)
	if got := flagOf(t, online.Join, "--helen"); got != want {
		t.Fatalf("join command with helen running: --helen %s, want %s: %s", got, want, online.Join)
	}
	if online.Helen != want || online.HelenFrom != "--san" {
		t.Fatalf("helen token --json with helen running: %+v, want helen %s from --san", online, want)
	}
	out, code := run(t, "helen", "token", "--data", data)
	if code != 0 || !strings.Contains(out, line) || !strings.Contains(out, "--helen "+want+" ") {
		t.Fatalf("helen token with helen running: exit %d, want %q and --helen %s:\n%s", code, line, want, out)
	}
	h.waitOutput(line, 10*time.Second)
	fetchBootstrap(t, online.Join)
	join(t, h, "web-1", online)

	h.stop()
	out, code = run(t, "helen", "token", "--data", data)
	if code != 0 || !strings.Contains(out, line) || !strings.Contains(out, "--helen "+want+" ") {
		t.Fatalf("helen token with helen stopped: exit %d, want %q and --helen %s:\n%s", code, line, want, out)
	}
	offline := tokenJSON(t, data)
	if got := flagOf(t, offline.Join, "--helen"); got != want {
		t.Fatalf("join command with helen stopped: --helen %s, want %s: %s", got, want, offline.Join)
	}
	if offline.Helen != want || offline.HelenFrom != "--san" {
		t.Fatalf("helen token --json with helen stopped: %+v, want helen %s from --san", offline, want)
	}
	if strip(offline.Join, offline.Token) != strip(online.Join, online.Token) {
		t.Errorf("join commands differ but for the token:\n  running: %s\n  stopped: %s", online.Join, offline.Join)
	}

	h = startHelen(t, data, ":"+port, httpAddr, "--san", san)
	h.listen = want
	join(t, h, "web-2", offline)
}

// tokenJSON makes a one-use token with helen token --json.
func tokenJSON(t *testing.T, data string) joinToken {
	t.Helper()
	out, code := run(t, "helen", "token", "--data", data, "--json")
	var tok joinToken
	if err := json.Unmarshal([]byte(out), &tok); code != 0 || err != nil || tok.Token == "" {
		t.Fatalf("helen token --json: exit %d, %v: %s", code, err, out)
	}
	return tok
}

func strip(join, token string) string { return strings.ReplaceAll(join, token, "TOKEN") }

// fetchBootstrap runs the join command's download, curl with its pins,
// which must fetch helen's bootstrap script from the advertised address.
func fetchBootstrap(t *testing.T, join string) {
	t.Helper()
	_, rest, ok := strings.Cut(join, "b=$(")
	curl, _, ok2 := strings.Cut(rest, ") && ")
	if !ok || !ok2 || !strings.HasPrefix(curl, "curl ") {
		t.Fatalf("join command does not download with curl first: %s", join)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Log("curl not installed: the join command's download is not tried")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	script, err := exec.CommandContext(ctx, "sh", "-c", curl).Output()
	if err != nil || !strings.HasPrefix(string(script), "#!/bin/sh") {
		t.Fatalf("%s: %v: %.80q", curl, err, script)
	}
}

// join starts an agent with what the join command tells it: helen's
// address, the CA pin and the token; it must connect.
func join(t *testing.T, h *helen, name string, tok joinToken) {
	t.Helper()
	start(t, "agent "+name, "equus", "--helen", flagOf(t, tok.Join, "--helen"), "--ca-pin", flagOf(t, tok.Join, "--ca-pin"),
		"--token", flagOf(t, tok.Join, "--token"), "--name", name, "--data", t.TempDir())
	h.waitConnected(t, name, 30*time.Second)
}
