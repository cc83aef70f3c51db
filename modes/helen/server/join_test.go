package server

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/pki"
)

// listenOnly makes a helen in dir and opens its listeners on listen, then
// closes them: what the join command says is decided by then.
func listenOnly(t *testing.T, cfg Config, listen string) (*Server, int) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ls, err := srv.Listen(listen, "")
	if err != nil {
		t.Fatal(err)
	}
	port := ls.Agents.Addr().(*net.TCPAddr).Port
	ls.Agents.Close()
	ls.Admin.Close()
	return srv, port
}

// TestAdvertised: the join command names --advertise, else the first
// --san that is not a wildcard, else the listener's own address when the
// certificate names it, else the host name, with the agents' port; helen
// records it, and helen token run while helen does not prints the same
// join command and says the same of it.
func TestAdvertised(t *testing.T) {
	host := pki.DefaultSANs()[0]
	tests := []struct {
		name   string
		cfg    Config
		listen string
		host   string // "" for --advertise's own, with its port
		from   string
	}{
		{"san", Config{SANs: []string{"monitor.example.com", "10.0.0.7"}}, ":0", "monitor.example.com", fromSAN},
		{"san-on-loopback", Config{SANs: []string{"monitor.example.com"}}, "127.0.0.1:0", "monitor.example.com", fromSAN},
		{"san-not-wildcard", Config{SANs: []string{"*.example.com", "10.0.0.7"}}, ":0", "10.0.0.7", fromSAN},
		{"san-ipv6", Config{SANs: []string{"2001:db8::7"}}, ":0", "2001:db8::7", fromSAN},
		{"advertise", Config{SANs: []string{"monitor.example.com"}, Advertise: "helen.example.net:443"}, ":0", "", fromAdvertise},
		{"listen", Config{}, "127.0.0.1:0", "127.0.0.1", fromListen},
		{"host", Config{}, ":0", host, fromHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, port := listenOnly(t, tt.cfg, tt.listen)
			want := tt.cfg.Advertise
			if tt.host != "" {
				want = net.JoinHostPort(tt.host, strconv.Itoa(port))
			}
			j := srv.joiner()
			if j.helen != (advertisement{want, tt.from}) {
				t.Errorf("advertised %+v, want %s from %s", j.helen, want, tt.from)
			}
			join := srv.JoinCommand("TOKEN")
			if !strings.Contains(join, "https://"+want+"/bootstrap.sh") || !strings.Contains(join, " --helen "+want+" ") {
				t.Errorf("join command does not name %s: %s", want, join)
			}
			// What agents are told to dial is a name of the certificate
			// they verify.
			h, _, _ := net.SplitHostPort(want)
			if err := srv.leaf().VerifyHostname(h); err != nil {
				t.Errorf("server certificate: %v", err)
			}

			off, err := offlineJoiner(srv.cfg.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			if got := off.command("TOKEN"); got != join {
				t.Errorf("offline join command:\n  %s\nwant\n  %s", got, join)
			}
			if off.helen.explain() != j.helen.explain() || !strings.HasPrefix(j.helen.explain(), "agents will reach helen at "+want+" (") {
				t.Errorf("explained %q offline, %q by helen", off.helen.explain(), j.helen.explain())
			}
		})
	}
}

// TestBadAdvertise: an --advertise or --san that is no address to dial,
// or no name of a certificate, is refused with its flag named, and the
// data directory is not made.
func TestBadAdvertise(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no-port", Config{Advertise: "monitor.example.com"}, "--advertise"},
		{"empty-port", Config{Advertise: "monitor.example.com:"}, "--advertise"},
		{"port-zero", Config{Advertise: "monitor.example.com:0"}, "not a number from 1 to 65535"},
		{"port-big", Config{Advertise: "monitor.example.com:99999"}, "not a number from 1 to 65535"},
		{"no-host", Config{Advertise: ":7480"}, "empty"},
		{"space", Config{Advertise: "a b:7480"}, "' ' is not allowed"},
		{"shell", Config{Advertise: "a;reboot:7480"}, "';' is not allowed"},
		{"wildcard", Config{Advertise: "*.example.com:7480"}, "wildcard"},
		{"san-shell", Config{SANs: []string{"$(reboot)"}}, "--san"},
		{"san-empty-label", Config{SANs: []string{"a..b"}}, "an empty label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.DataDir = filepath.Join(t.TempDir(), "helen")
			srv, err := New(tt.cfg)
			if err == nil {
				srv.Close()
				t.Fatalf("New(%+v) succeeded", tt.cfg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want it to say %q", err, tt.want)
			}
			if _, err := os.Stat(tt.cfg.DataDir); err == nil {
				t.Error("the data directory was made")
			}
		})
	}
}

// TestJoinHelens: the join command names every helen the Helens hook
// gives, this one's first and the script's source, each once, the
// hook's bad addresses left out and at most maxHelens in all; with one
// helen it is the command of a helen alone, byte for byte, and a helen
// at its bound of sessions names the others.
func TestJoinHelens(t *testing.T) {
	alone, _ := listenOnly(t, Config{Advertise: "h1.example:7480"}, "127.0.0.1:0")
	single := alone.JoinCommand("TOKEN")
	pin, pubkey := alone.ca.Pin(), pubkeyPin(alone.leaf())
	want := `sh -c 'b=$(curl -fsS --insecure --pinnedpubkey "` + pubkey + `" https://h1.example:7480/bootstrap.sh) && printf "%s\n" "$b" | sh -s -- "$@"' bootstrap ` +
		`--helen h1.example:7480 --ca-pin ` + pin + ` --pubkey-pin '` + pubkey + `' --token TOKEN`
	if single != want {
		t.Errorf("one helen's join command:\n  %s\nwant\n  %s", single, want)
	}
	if got := alone.elsewhere(); len(got) != 0 {
		t.Errorf("a helen alone sends agents to %q", got)
	}

	many := []string{"h2.example:7480", "h1.example:7480", "bad host:1", "[2001:db8::3]:7480", "h2.example:7480", "no-port"}
	for i := range 20 {
		many = append(many, "h"+strconv.Itoa(10+i)+".example:7480")
	}
	dir := alone.cfg.DataDir
	alone.Close()
	srv, _ := listenOnly(t, Config{DataDir: dir, Advertise: "h1.example:7480", Helens: func() []string { return many }}, "127.0.0.1:0")
	join := srv.JoinCommand("TOKEN")
	helens := regexp.MustCompile(`--helen ('[^']*'|\S+)`).FindAllStringSubmatch(join, -1)
	var got []string
	for _, h := range helens {
		got = append(got, strings.Trim(h[1], "'"))
	}
	wantHelens := []string{"h1.example:7480", "h2.example:7480", "[2001:db8::3]:7480"}
	for i := range maxHelens - len(wantHelens) {
		wantHelens = append(wantHelens, "h"+strconv.Itoa(10+i)+".example:7480")
	}
	if !slices.Equal(got, wantHelens) || !strings.Contains(join, "https://h1.example:7480/bootstrap.sh") {
		t.Errorf("join command names %q, want %q from h1:\n%s", got, wantHelens, join)
	}
	if !strings.Contains(join, "--helen '[2001:db8::3]:7480'") {
		t.Errorf("an IPv6 address unquoted, a glob to the shell: %s", join)
	}
	if others := srv.elsewhere(); !slices.Equal(others, append(wantHelens[1:], "h23.example:7480")) {
		t.Errorf("sends agents to %q", others)
	}
	tok, err := srv.Token(web.TokenRequest{Uses: 1, TTL: web.Duration(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tok.Helens, wantHelens) || tok.Helen != "h1.example:7480" {
		t.Errorf("token's helens %q, helen %s", tok.Helens, tok.Helen)
	}
	if w := srv.JoinWhere(); !strings.Contains(w, "at h1.example:7480 (from --advertise), or at the other helens, h2.example:7480, [2001:db8::3]:7480, h10") {
		t.Errorf("JoinWhere: %s", w)
	}
}
