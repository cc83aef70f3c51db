package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/equus-monitoring/equus/internal/pgtest"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
)

// pgxQueryRow runs a query of one row on the store's database.
func pgxQueryRow(t *testing.T, url, sql string, dest ...any) error {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(context.Background(), sql).Scan(dest...)
}

// newStoreKey returns a store key of its own for a test.
func newStoreKey() []byte {
	k := make([]byte, StoreKeySize)
	rand.Read(k)
	return k
}

// startShared starts a helen with id on the shared store at url.
func startShared(t *testing.T, url, id string, key []byte) *testHelen {
	t.Helper()
	return startHelen(t, Config{Store: url, HelenID: id, StoreKey: key})
}

// cluster is the test's own handle on a shared store, as a third helen.
func cluster(t *testing.T, url string) *pgstore.Store {
	t.Helper()
	st, err := pgstore.Open(context.Background(), url, pgstore.Options{Helen: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Two helens on one store share the CA and the admin token, and a token
// made on one enrolls an agent on the other.
func TestSharedStoreEnrollsOnAnyHelen(t *testing.T) {
	url, key := pgtest.DB(t), newStoreKey()
	a := startShared(t, url, "helen-a", key)
	b := startShared(t, url, "helen-b", key)
	if a.CA().Pin() != b.CA().Pin() {
		t.Fatalf("helens of one store with CAs %s and %s", a.CA().Pin(), b.CA().Pin())
	}
	ta, createdA := a.srv.AdminToken()
	tb, createdB := b.srv.AdminToken()
	if ta != tb || !createdA || createdB {
		t.Fatalf("admin tokens %q (made %v) and %q (made %v): want one, made by the first", ta, createdA, tb, createdB)
	}
	// Each its own server certificate, from the shared CA.
	if bytes.Equal(a.srv.cert.Certificate[0], b.srv.cert.Certificate[0]) {
		t.Fatal("two helens serve one server certificate")
	}
	for _, h := range []*testHelen{a, b} {
		if err := h.srv.cert.Leaf.CheckSignatureFrom(a.CA().Cert); err != nil {
			t.Fatalf("server certificate not from the shared CA: %v", err)
		}
	}
	secret, _, err := a.srv.DB().CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := newCSR(t, "web-1")
	code, er := enroll(t, httpsClient(t, b, nil), b, secret, csr)
	if code != http.StatusOK {
		t.Fatalf("enroll on b with a's token: %d %s", code, er.Error)
	}
	certs, err := pki.ParseCertsPEM([]byte(er.Cert))
	if err != nil {
		t.Fatal(err)
	}
	if err := certs[0].CheckSignatureFrom(a.CA().Cert); err != nil {
		t.Fatalf("b issued a certificate the shared CA did not sign: %v", err)
	}
	// The token is spent for both.
	if code, _ := enroll(t, httpsClient(t, a, nil), a, secret, csr); code == http.StatusOK {
		t.Fatal("a token of one use enrolled twice, once on each helen")
	}
}

// An agent that moves from one helen to another has its session on the
// first closed: one session per agent across the helens of a store.
func TestAgentMovesBetweenHelens(t *testing.T) {
	url, key := pgtest.DB(t), newStoreKey()
	a := startShared(t, url, "helen-a", key)
	b := startShared(t, url, "helen-b", key)
	st := cluster(t, url)
	onA := startAgent(t, a, "web-1", behavior{})
	onA.Ready()
	poll(t, "a holds web-1", func() bool { _, ok := a.srv.hub.Session("web-1"); return ok })
	first, err := st.Owner(context.Background(), "web-1")
	if err != nil || first.Helen != "helen-a" || !first.Held {
		t.Fatalf("claim of web-1 on a: %+v, %v", first, err)
	}
	onB := startAgentWith(t, b, "web-1", agentCert(t, a.srv, "web-1"), behavior{})
	onB.Ready()
	if _, err := onA.WaitClosed(); err == nil {
		t.Log("a closed web-1's session")
	}
	poll(t, "a lets web-1 go", func() bool { _, ok := a.srv.hub.Session("web-1"); return !ok })
	if _, ok := b.srv.hub.Session("web-1"); !ok || onB.Closed() {
		t.Fatal("b does not hold web-1's session")
	}
	c, err := st.Owner(context.Background(), "web-1")
	if err != nil || c.Helen != "helen-b" || !c.Held || c.Epoch <= first.Epoch {
		t.Fatalf("claim of web-1 after it moved: %+v, %v; want b's, held, after epoch %d", c, err, first.Epoch)
	}
	// a's end of its session released nothing of b's.
	onB.Close()
	poll(t, "b releases web-1", func() bool {
		c, err := st.Owner(context.Background(), "web-1")
		return err == nil && !c.Held && c.Helen == "helen-b"
	})
}

// A claim told while a helen's watch had lost its connection to the
// database still ends that helen's session: it reconnects and rechecks
// the claims of the agents it holds (resync).
func TestClaimAcrossWatchReconnect(t *testing.T) {
	url, key := pgtest.DB(t), newStoreKey()
	a := startShared(t, url, "helen-a", key)
	st := cluster(t, url)
	ctx := context.Background()
	onA := startAgent(t, a, "web-1", behavior{})
	onA.Ready()
	poll(t, "a holds web-1", func() bool { _, ok := a.srv.hub.Session("web-1"); return ok })
	var n int
	err := pgxQueryRow(t, url, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'equus-watch' AND datname = current_database()`, &n)
	if err != nil || n == 0 {
		t.Fatalf("ended %d watch connections, %v", n, err)
	}
	// Told while a's watch waits to reconnect (pgstore.WatchReconnect).
	if _, err := st.Claim(ctx, "web-1", "helen-x", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := onA.WaitClosed(); err != nil {
		t.Logf("a closed web-1's session: %v", err)
	}
	poll(t, "a lets web-1 go", func() bool { _, ok := a.srv.hub.Session("web-1"); return !ok })
}

// A helen given another store key than the store's first is refused at
// start, and leaves the store as it was.
func TestSharedStoreWrongKeyRefused(t *testing.T) {
	url := pgtest.DB(t)
	a := startShared(t, url, "helen-a", newStoreKey())
	st := cluster(t, url)
	ctx := context.Background()
	caBefore, err := st.Secret(ctx, secretCA)
	if err != nil {
		t.Fatal(err)
	}
	dataB := filepath.Join(t.TempDir(), "helen-b")
	_, err = New(Config{DataDir: dataB, Store: url, HelenID: "helen-b", StoreKey: newStoreKey(), Log: a.srv.log})
	if !errors.Is(err, ErrStoreKey) {
		t.Fatalf("a helen with a wrong store key: %v, want ErrStoreKey", err)
	}
	t.Log(err)
	if _, err := os.Stat(dataB); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused helen made its data directory: %v", err)
	}
	hs, err := st.Helens(ctx)
	if err != nil || len(hs) != 1 || hs[0].ID != "helen-a" {
		t.Fatalf("helens %+v, %v: want helen-a alone", hs, err)
	}
	if caAfter, _ := st.Secret(ctx, secretCA); !bytes.Equal(caAfter, caBefore) {
		t.Fatal("a refused helen changed the CA in the store")
	}
	// No key at all is refused before the store is opened.
	if _, err := New(Config{DataDir: t.TempDir(), Store: url, HelenID: "helen-c"}); !errors.Is(err, ErrStoreKey) {
		t.Fatalf("a helen with no store key: %v, want ErrStoreKey", err)
	}
}

// A second helen with the id of a live one is refused.
func TestSharedStoreLiveIDRefused(t *testing.T) {
	url, key := pgtest.DB(t), newStoreKey()
	a := startShared(t, url, "helen-a", key)
	_, err := New(Config{DataDir: t.TempDir(), Store: url, HelenID: "helen-a", StoreKey: key, Log: a.srv.log})
	if err == nil || !strings.Contains(err.Error(), "a live helen has that id") {
		t.Fatalf("a second helen-a: %v, want refused", err)
	}
}

// A helen that stops says so: the others take it for dead at once, and it
// takes its id back at once when it starts again.
func TestSharedStoreStopRecorded(t *testing.T) {
	url, key := pgtest.DB(t), newStoreKey()
	a := startShared(t, url, "helen-a", key)
	st := cluster(t, url)
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	hs, err := st.Helens(context.Background())
	if err != nil || len(hs) != 1 {
		t.Fatalf("helens %+v, %v", hs, err)
	}
	if age := time.Since(hs[0].Beat); age < HelenDead {
		t.Fatalf("a stopped helen's last beat is %s old, want at least %s", age, HelenDead)
	}
	var slept bool
	err = waitHelenGone(context.Background(), st, "helen-a", time.Now, func(time.Duration) { slept = true })
	if err != nil || slept {
		t.Fatalf("the id of a stopped helen: %v, waited %v; want it free at once", err, slept)
	}
}

// A helen alone moved onto a store (helen migrate) is served there with its
// own CA and admin token, in its own data directory; a data directory of
// a helen alone is refused on a store that holds another CA, or none.
func TestMoveSecrets(t *testing.T) {
	url, key := pgtest.DB(t), newStoreKey()
	alone := func() (dir string, pin, token string) {
		dir = t.TempDir()
		srv, err := New(Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		pin, token = srv.CA().Pin(), srv.adminToken
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		return dir, pin, token
	}
	dir, pin, token := alone()
	if _, err := New(Config{DataDir: dir, Store: url, HelenID: "helen-a", StoreKey: key}); err == nil || !strings.Contains(err.Error(), "helen migrate") {
		t.Fatalf("a helen alone's directory on a store without a CA: %v, want refused, saying helen migrate", err)
	}
	st := cluster(t, url)
	if err := MoveSecrets(context.Background(), st, dir, key); err != nil {
		t.Fatal(err)
	}
	a := startHelen(t, Config{DataDir: dir, Store: url, HelenID: "helen-a", StoreKey: key})
	b := startShared(t, url, "helen-b", key)
	for _, h := range []*testHelen{a, b} {
		if got, _ := h.srv.AdminToken(); h.CA().Pin() != pin || got != token {
			t.Fatalf("a helen of the store serves CA %s and token %q, want the moved helen's %s and %q", h.CA().Pin(), got, pin, token)
		}
	}
	other, _, _ := alone()
	if err := MoveSecrets(context.Background(), st, other, key); err == nil {
		t.Fatal("a second helen's CA moved into a store that has one")
	}
	if _, err := New(Config{DataDir: other, Store: url, HelenID: "helen-c", StoreKey: key}); err == nil || !strings.Contains(err.Error(), "not the one of --store") {
		t.Fatalf("a helen alone's directory on a store of another CA: %v, want refused", err)
	}
}

// StoreCA reads the CA a helen of the store made, and makes none.
func TestStoreCA(t *testing.T) {
	url, key := pgtest.DB(t), newStoreKey()
	st := cluster(t, url)
	ctx := context.Background()
	if _, err := StoreCA(ctx, st, key); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("StoreCA of a store no helen started on: %v, want state.ErrNotFound", err)
	}
	if _, err := st.Secret(ctx, secretCA); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("the store holds a CA after StoreCA: %v", err)
	}
	h := startShared(t, url, "helen-a", key)
	ca, err := StoreCA(ctx, st, key)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Pin() != h.CA().Pin() {
		t.Fatalf("StoreCA gave CA %s, the helen serves %s", ca.Pin(), h.CA().Pin())
	}
	if _, _, err := ca.IssueClient("load-1", time.Now()); err != nil {
		t.Fatalf("the CA StoreCA gave does not issue: %v", err)
	}
	if _, err := StoreCA(ctx, st, newStoreKey()); !errors.Is(err, ErrStoreKey) {
		t.Fatalf("StoreCA with another key: %v, want ErrStoreKey", err)
	}
}

func TestParseStoreKey(t *testing.T) {
	key := newStoreKey()
	for _, tt := range []struct {
		name, in string
		ok       bool
	}{
		{"hex", hex.EncodeToString(key), true},
		{"hex-newline", hex.EncodeToString(key) + "\n", true},
		{"base64", base64.StdEncoding.EncodeToString(key), true},
		{"base64-raw-url", base64.RawURLEncoding.EncodeToString(key), true},
		{"short", hex.EncodeToString(key[:16]), false},
		{"long", hex.EncodeToString(append(key, 0)), false},
		{"empty", "", false},
		{"words", "correct horse battery staple", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStoreKey(tt.in)
			if tt.ok != (err == nil) || tt.ok && !bytes.Equal(got, key) {
				t.Fatalf("ParseStoreKey: %x, %v", got, err)
			}
			if err != nil && !errors.Is(err, ErrStoreKey) {
				t.Fatalf("error %v is no ErrStoreKey", err)
			}
		})
	}
}

func TestSealRoundTrip(t *testing.T) {
	key := newStoreKey()
	sealed, err := seal(key, []byte("the CA's key"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("the CA's key")) {
		t.Fatal("sealed in the clear")
	}
	if plain, err := unseal(key, sealed, []byte("aad")); err != nil || string(plain) != "the CA's key" {
		t.Fatalf("unseal: %q, %v", plain, err)
	}
	for name, try := range map[string]func() error{
		"wrong-key": func() error { _, err := unseal(newStoreKey(), sealed, []byte("aad")); return err },
		"wrong-aad": func() error { _, err := unseal(key, sealed, []byte("other")); return err },
		"cut":       func() error { _, err := unseal(key, sealed[:5], []byte("aad")); return err },
	} {
		if err := try(); !errors.Is(err, ErrStoreKey) {
			t.Errorf("%s: %v, want ErrStoreKey", name, err)
		}
	}
}

// helensOnly is a store whose Helens alone answer, from beats.
type helensOnly struct {
	state.Cluster
	beat func() time.Time
}

func (h helensOnly) Helens(context.Context) ([]state.Helen, error) {
	return []state.Helen{{ID: "other"}, {ID: "helen-a", Beat: h.beat()}}, nil
}

// waitHelenGone takes an id back from a dead helen (a restart), at once
// when its beat is old, after its beat grows old when it is recent, and
// refuses it to a helen whose beat moves.
func TestWaitHelenGone(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		beat   func(now time.Time) time.Time
		live   bool
		waited time.Duration // at least
	}{
		{"none", func(time.Time) time.Time { return time.Time{} }, false, 0},
		{"dead", func(time.Time) time.Time { return t0.Add(-HelenDead) }, false, 0},
		{"just-stopped", func(time.Time) time.Time { return t0.Add(-time.Second) }, false, HelenDead - time.Second},
		{"beating", func(now time.Time) time.Time { return now.Truncate(BeatInterval) }, true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			st := helensOnly{beat: func() time.Time { return tt.beat(now) }}
			err := waitHelenGone(context.Background(), st, "helen-a", func() time.Time { return now }, func(d time.Duration) { now = now.Add(d) })
			if tt.live != (err != nil) {
				t.Fatalf("waitHelenGone: %v, want live %v", err, tt.live)
			}
			if waited := now.Sub(t0); waited < tt.waited || waited > HelenDead+BeatInterval {
				t.Fatalf("waited %s, want %s to %s", waited, tt.waited, HelenDead+BeatInterval)
			}
		})
	}
}

// A helen of a shared store records the store, without its password, in
// its data directory, for the helen commands run while it is not; a
// helen on bbolt started in that directory removes the record.
func TestSharedStoreRecorded(t *testing.T) {
	dir := t.TempDir()
	if err := recordShared(dir, "postgres://equus:s3cret@db.example.com/equus"); err != nil {
		t.Fatal(err)
	}
	err := CheckDataDir(dir)
	if !errors.Is(err, ErrSharedStore) || !strings.Contains(err.Error(), "db.example.com/equus") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("CheckDataDir of a helen of a shared store: %v; want ErrSharedStore naming the store without its password", err)
	}
	h := startHelen(t, Config{DataDir: dir})
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := CheckDataDir(dir); err != nil {
		t.Fatalf("CheckDataDir once a helen on bbolt served there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, SharedStoreFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s left by a helen on bbolt: %v", SharedStoreFile, err)
	}
}
