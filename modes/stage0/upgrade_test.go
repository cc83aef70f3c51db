package stage0

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/equus-monitoring/equus/internal/testfs"
)

func TestUpgrade(t *testing.T) {
	skipWithoutShell(t)
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	old := agentScript("1.0.0", readyBody("1.0.0"))
	good := agentScript("1.1.0", readyBody("1.1.0"))
	offer := func(bin []byte) func(*fakeHelen) {
		return func(h *fakeHelen) { h.offerBinary("1.1.0", bin) }
	}
	signed := func(key minisign.PrivateKey) func(*fakeHelen) {
		return func(h *fakeHelen) {
			h.offerBinary("1.1.0", good)
			h.change(func(h *fakeHelen) { h.offer.Signature = string(minisign.Sign(key, good)) })
		}
	}
	tests := []struct {
		name  string
		helen func(*fakeHelen)
		// key reports whether stage0 has an update key.
		key bool
		// knownBad is recorded as bad before the update.
		knownBad     string
		readyTimeout time.Duration
		// want is the binary afterwards; wantBad whether 1.1.0 is then
		// recorded as bad; wantLog a line of the log.
		want     []byte
		wantBad  bool
		wantLog  string
		download bool
	}{
		{name: "updated", helen: offer(good), want: good, wantLog: "agent updated", download: true},
		{name: "signed", helen: signed(priv), key: true, want: good, wantLog: "agent updated", download: true},
		{name: "same-version", helen: func(h *fakeHelen) { h.offerBinary("1.0.0", old) }, want: old, wantLog: "no newer version on offer"},
		{name: "older", helen: func(h *fakeHelen) { h.offerBinary("0.9.0", old) }, want: old, wantLog: "no newer version on offer"},
		{name: "no-offer", helen: func(h *fakeHelen) {}, want: old, wantLog: "no update on offer"},
		{name: "helen-error", helen: func(h *fakeHelen) { h.change(func(h *fakeHelen) { h.offerCode = http.StatusServiceUnavailable }) },
			want: old, wantLog: "503 Service Unavailable: no release on offer"},
		{name: "checksum", helen: func(h *fakeHelen) {
			h.offerBinary("1.1.0", good)
			h.change(func(h *fakeHelen) { h.binary = bytes.ToUpper(good) })
		}, want: old, wantLog: "checksum mismatch", download: true},
		{name: "too-large", helen: func(h *fakeHelen) {
			h.offerBinary("1.1.0", good)
			h.change(func(h *fakeHelen) { h.binary = append(bytes.Clone(good), "\n# more\n"...) })
		}, want: old, wantLog: "too large", download: true},
		{name: "unsigned", helen: offer(good), key: true, want: old, wantLog: "bad signature"},
		{name: "wrong-key", helen: signed(otherPriv), key: true, want: old, wantLog: "bad signature", download: true},
		{name: "wrong-version", helen: offer(agentScript("1.1.1", readyBody("1.1.1"))), want: old, wantBad: true,
			wantLog: `the new binary is version \"1.1.1\", helen offered \"1.1.0\"`, download: true},
		{name: "crash", helen: offer(agentScript("1.1.0", crashBody)), want: old, wantBad: true,
			wantLog: "ended before connecting to helen: exit status 1", download: true},
		{name: "never-ready", helen: offer(agentScript("1.1.0", silentBody)), readyTimeout: 300 * time.Millisecond,
			want: old, wantBad: true, wantLog: "did not connect to helen within 300ms", download: true},
		{name: "ready-as-another", helen: offer(agentScript("1.1.0", readyBody("1.0.9"))), want: old, wantBad: true,
			wantLog: `the new agent says it is version \"1.0.9\"`, download: true},
		{name: "known-bad", helen: offer(good), knownBad: "1.1.0", want: old, wantBad: true,
			wantLog: "not updating to a version that failed here before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHelen(t)
			tt.helen(h)
			a := newTestAgent(t, h, old)
			cfg := a.config(t, h, "1.0.0")
			if tt.key {
				cfg.UpdateKey = &pub
			}
			if tt.readyTimeout > 0 {
				cfg.ReadyTimeout = tt.readyTimeout
			}
			rec := &logRecorder{}
			s := newSupervisor(cfg, testLogger(t, rec))
			if tt.knownBad != "" {
				s.markBad(tt.knownBad, "failed in a test")
			}
			ctx := context.Background()
			client, err := s.client(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer client.CloseIdleConnections()

			ch := s.upgrade(ctx, client)
			if ch != nil {
				defer ch.stop(time.Second)
			}
			updated := bytes.Equal(tt.want, good)
			if (ch != nil) != updated {
				t.Errorf("upgrade returned agent %v, want one: %v", ch, updated)
			}
			if got := a.binary(t); !bytes.Equal(got, tt.want) {
				t.Errorf("binary afterwards:\n%s\nwant:\n%s", got, tt.want)
			}
			if !bytes.Equal(a.own(t), old) {
				t.Error("stage0's own executable changed")
			}
			if updated && s.running != "1.1.0" || !updated && s.running != "1.0.0" {
				t.Errorf("running version %s after the update", s.running)
			}
			st, err := loadState(s.statePath())
			if err != nil {
				t.Fatal(err)
			}
			if _, bad := st.Bad["1.1.0"]; bad != tt.wantBad {
				t.Errorf("1.1.0 recorded as bad: %v, want %v (%+v)", bad, tt.wantBad, st)
			}
			if rec.count(tt.wantLog) == 0 {
				t.Errorf("no log line with %q", tt.wantLog)
			}
			if got := h.count("/v1/update/binary") > 0; got != tt.download {
				t.Errorf("downloaded: %v, want %v", got, tt.download)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(a.agent), ".equus-download-*")); len(left) > 0 {
				t.Errorf("downloads left behind: %v", left)
			}
		})
	}
}

// A binary stage0 cannot replace, in a read-only directory or file system
// or on a full disk, is left alone, with a log line and nothing left
// behind.
func TestUpgradeUnwritable(t *testing.T) {
	skipWithoutShell(t)
	// move puts the agent binary into dir.
	move := func(t *testing.T, a *testAgent, dir string) {
		bin := filepath.Join(dir, "equus")
		if err := os.WriteFile(bin, a.binary(t), 0o755); err != nil {
			t.Fatal(err)
		}
		a.agent = bin
	}
	good := agentScript("1.1.0", readyBody("1.1.0"))
	big := append(agentScript("1.1.0", readyBody("1.1.0")), "\n# "+strings.Repeat("x", 1<<20)+"\n"...)
	tests := []struct {
		name  string
		offer []byte
		setup func(t *testing.T, a *testAgent)
	}{
		{"read-only-directory", good, func(t *testing.T, a *testAgent) {
			if os.Geteuid() == 0 {
				t.Skip("root writes to read-only directories; read-only-filesystem tests this as root")
			}
			dir := filepath.Dir(a.agent)
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o755) })
		}},
		{"read-only-filesystem", good, func(t *testing.T, a *testAgent) {
			dir := testfs.Tmpfs(t, 1<<20)
			move(t, a, dir)
			testfs.ReadOnly(t, dir)
		}},
		{"full-disk", big, func(t *testing.T, a *testAgent) {
			move(t, a, testfs.Tmpfs(t, 256<<10))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHelen(t)
			h.offerBinary("1.1.0", tt.offer)
			old := agentScript("1.0.0", readyBody("1.0.0"))
			a := newTestAgent(t, h, old)
			tt.setup(t, &a)
			before, err := os.ReadDir(filepath.Dir(a.agent))
			if err != nil {
				t.Fatal(err)
			}
			rec := &logRecorder{}
			s := newSupervisor(a.config(t, h, "1.0.0"), testLogger(t, rec))
			client, err := s.client(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer client.CloseIdleConnections()
			if ch := s.upgrade(context.Background(), client); ch != nil {
				ch.stop(time.Second)
				t.Fatal("updated a binary it cannot write")
			}
			if !bytes.Equal(a.binary(t), old) {
				t.Error("binary changed")
			}
			if rec.count("update refused, keeping the current version") != 1 {
				t.Error("no log line for the refusal")
			}
			if after, _ := os.ReadDir(filepath.Dir(a.agent)); len(after) != len(before) {
				t.Errorf("files next to the binary: %v, were %v", after, before)
			}
		})
	}
}
