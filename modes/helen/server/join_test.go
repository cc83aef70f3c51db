package server

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
