package helen

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/pki"
)

// TestAdvertisedOffline: helen token with helen stopped prints the
// address helen serve recorded and says where it comes from, and says so
// when none was recorded; it does not rewrite the server certificate.
func TestAdvertisedOffline(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir, SANs: []string{"monitor.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := srv.Listen(":0", "")
	if err != nil {
		t.Fatal(err)
	}
	port := ls.Agents.Addr().(*net.TCPAddr).Port
	ls.Agents.Close()
	ls.Admin.Close()
	srv.Close()
	certBefore, err := os.ReadFile(filepath.Join(dir, "server.pem"))
	if err != nil {
		t.Fatal(err)
	}
	want := "agents will reach helen at monitor.example.com:" + strconv.Itoa(port) + " (from --san; set --advertise to change)\n"
	out, code := helenCLI(t, "token", "--data="+dir)
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, " --helen monitor.example.com:"+strconv.Itoa(port)+" ") {
		t.Fatalf("helen token offline: exit %d, want %q:\n%s", code, want, out)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "server.pem")); string(after) != string(certBefore) {
		t.Error("helen token offline rewrote the server certificate")
	}

	if err := os.Remove(filepath.Join(dir, server.AdvertisedFile)); err != nil {
		t.Fatal(err)
	}
	out, code = helenCLI(t, "token", "--data="+dir)
	if code != 0 || !strings.Contains(out, "agents will reach helen at "+net.JoinHostPort(pki.DefaultSANs()[0], "7480")+" (the host name: no helen serve has recorded") {
		t.Errorf("helen token offline, nothing recorded: exit %d:\n%s", code, out)
	}

	if err := os.WriteFile(filepath.Join(dir, server.AdvertisedFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code = helenCLI(t, "token", "--data="+dir); code == 0 || !strings.Contains(out, server.AdvertisedFile) {
		t.Errorf("helen token offline, a damaged record: exit %d:\n%s", code, out)
	}
}
