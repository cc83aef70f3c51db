package state

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A database file beside which helen's CA lives must exist: Existing
// refuses a missing or empty one, and an empty one stays empty.
func TestOpenExisting(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if db, err := Open(missing, Options{Existing: true}); !errors.Is(err, ErrNoDatabase) || !strings.Contains(err.Error(), missing) {
		closeIf(db)
		t.Fatalf("Open of a missing file = %v, want ErrNoDatabase naming it", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused Open made %s: %v", missing, err)
	}

	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(empty, Options{Existing: true}); !errors.Is(err, ErrNoDatabase) || !strings.Contains(err.Error(), empty) {
		closeIf(db)
		t.Fatalf("Open of an empty file = %v, want ErrNoDatabase naming it", err)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Errorf("refused Open changed %s: %v, %v", empty, fi.Size(), err)
	}

	// Without Existing, an empty file is a new database, and then it
	// exists.
	db, err := Open(empty, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(empty, Options{Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func closeIf(db *DB) {
	if db != nil {
		db.Close()
	}
}

// agentsFile makes a database of ten agents, web-0 revoked, three with a
// result, and closes it. Ten records do not fit in an inline bucket, so
// the agents bucket has a page of its own: a leaf.
func agentsFile(t *testing.T) string { return agentsFileOf(t, 10) }

// agentsFileOf is agentsFile with n agents: 400 make the agents bucket a
// tree whose root is a branch page.
func agentsFileOf(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "helen.db")
	db, err := Open(path, Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("web-%d", i)
		if err := db.PinCert(name, fmt.Sprintf("%064x", i), at(0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Revoke("web-0", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := db.AddResult(t.Context(), newResult(fmt.Sprintf("web-%d", i), "load", "ok", at(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	// The results in their agents' buckets, the parts these tests damage.
	if _, err := db.compactAll(nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// damagePage changes the root page of a bucket (a path from the top) of a
// closed file: it finds the page from the bucket's root page id and the
// file's page size, checks that it is a leaf, and lets damage change its
// bytes.
func damagePage(t *testing.T, path string, bucket []string, damage func(page []byte)) {
	t.Helper()
	damagePageOf(t, path, bucket, "leaf", damage)
}

// damagePageOf is damagePage for a root page of the given type.
func damagePageOf(t *testing.T, path string, bucket []string, typ string, damage func(page []byte)) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var id int
	err = b.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket[0]))
		for _, name := range bucket[1:] {
			b = b.Bucket([]byte(name))
		}
		id = int(b.RootPage())
		info, err := tx.Page(id)
		if err != nil {
			return err
		}
		if info == nil || info.Type != typ {
			return fmt.Errorf("bucket %s: root page %d is %+v, want a %s", bucket, id, info, typ)
		}
		return nil
	})
	size := b.Info().PageSize
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damage(data[id*size : (id+1)*size])
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

var agentsBucket = []string{string(bucketAgents)}

// flipType flips bits of a page's flags (bytes 8 and 9 of its header,
// either byte order), so a leaf (0x02) is no longer of any valid type.
func flipType(page []byte) {
	page[8] ^= 0x12
	page[9] ^= 0x12
}

// wantCorrupt fails unless err wraps ErrCorrupt, names the file and says
// how to restore it, with nothing of a Go panic in it.
func wantCorrupt(t *testing.T, what string, err error, path string) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s = %v, want ErrCorrupt", what, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, path) || !strings.Contains(msg, "backup") {
		t.Errorf("%s: %q does not name %s and how to restore it", what, msg, path)
	}
	if strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic:") {
		t.Errorf("%s: %q reads like a Go panic", what, msg)
	}
}

func TestCheckRefusesDamagedPages(t *testing.T) {
	tests := []struct {
		name   string
		agents int    // 10: the root page of agents is a leaf; 400: a branch
		typ    string // of that page
		damage func(page []byte)
	}{
		{"page-type", 10, "leaf", flipType},
		// The element table starts after the 16-byte header: flags,
		// position, key size and value size of each element (4 bytes
		// each). A key moved by one byte is out of order, or out of
		// the page.
		{"key-position", 10, "leaf", func(p []byte) { p[16+16+4] ^= 0x01 }},
		{"element-count", 10, "leaf", func(p []byte) { p[10] ^= 0x7f; p[11] ^= 0x7f }},
		// A branch element is position and key size (4 bytes each)
		// and the child's page id (8 bytes). Bits 24 and 32 of the
		// first child's id (either byte order) send it terabytes past
		// the end of the file: reading it faults, which bbolt's check
		// alone could not survive.
		{"child-out-of-file", 400, "branch", func(p []byte) { p[16+8+3] ^= 0x01; p[16+8+4] ^= 0x01 }},
	}
	for _, tt := range tests {
		for _, whole := range []int64{DefaultCheckWhole, -1} {
			name := tt.name + "/whole"
			if whole < 0 {
				name = tt.name + "/parts"
			}
			t.Run(name, func(t *testing.T) { checkRefuses(t, tt.agents, tt.typ, tt.damage, whole) })
		}
	}
}

// checkRefuses damages the page of typ of the agents bucket of a file of
// agents, and wants Open, checking it whole or in parts, to refuse it
// and leave it as it was.
func checkRefuses(t *testing.T, agents int, typ string, damage func([]byte), whole int64) {
	path := agentsFileOf(t, agents)
	damagePageOf(t, path, agentsBucket, typ, damage)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{CheckWhole: whole})
	if err == nil {
		db.Close()
	}
	wantCorrupt(t, "Open", err, path)
	if !strings.Contains(err.Error(), "consistency check") {
		t.Errorf("Open = %v, want the check's finding", err)
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("refused Open changed the file (%v)", err)
	}
}

// A read that makes bbolt panic on a damaged page returns ErrCorrupt, and
// the rest of the store goes on working. The check is skipped here as when
// it ran out of time.
func TestDamagedPageRead(t *testing.T) {
	path := agentsFile(t)
	damagePage(t, path, agentsBucket, flipType)
	var reported atomic.Int32
	db, err := Open(path, Options{CheckTimeout: -1, PruneInterval: -1, OnCorrupt: func(err error) {
		wantCorrupt(t, "OnCorrupt", err, path)
		reported.Add(1)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	defer func() {
		// Agents, CheckCert(web-1), AgentSeen.
		if n := reported.Load(); n != 3 {
			t.Errorf("OnCorrupt called %d times, want 3", n)
		}
	}()
	if !db.Checked().Skipped {
		t.Errorf("Checked = %+v, want skipped", db.Checked())
	}
	_, err = db.Agents()
	wantCorrupt(t, "Agents", err, path)
	// web-0 is revoked: its revocation is in a page of its own, and an
	// agent whose record cannot be read is refused anyway.
	if err := db.CheckCert("web-0", fmt.Sprintf("%064x", 0)); !errors.Is(err, ErrRevoked) {
		t.Errorf("CheckCert(web-0) = %v, want ErrRevoked", err)
	}
	err = db.CheckCert("web-1", fmt.Sprintf("%064x", 1))
	wantCorrupt(t, "CheckCert(web-1)", err, path)
	err = db.AgentSeen(Agent{Name: "web-1", Connected: true})
	wantCorrupt(t, "AgentSeen(web-1)", err, path)
	err = db.SetAgentDown("web-1", at(time.Hour)) // a batch: no page of agents
	if err != nil {
		t.Errorf("SetAgentDown = %v", err)
	}
	if _, err := db.Tokens(); err != nil {
		t.Errorf("Tokens = %v", err)
	}
}

// A batch whose function panics on a damaged page fails with ErrCorrupt
// in its caller, and the batch's other callers are not held up by it.
func TestDamagedPageBatch(t *testing.T) {
	path := agentsFile(t)
	damagePage(t, path, agentsBucket, flipType)
	var reported atomic.Int32
	db, err := Open(path, Options{CheckTimeout: -1, PruneInterval: -1, OnCorrupt: func(error) { reported.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	errc := make(chan error, 2)
	go func() {
		errc <- db.batch(func(tx *bolt.Tx) error {
			tx.Bucket(bucketAgents).Get([]byte("web-1"))
			return nil
		})
	}()
	go func() { errc <- db.SetAgentDown("web-2", at(time.Hour)) }()
	var corrupt, ok int
	for range 2 {
		switch err := <-errc; {
		case errors.Is(err, ErrCorrupt):
			wantCorrupt(t, "batch", err, path)
			corrupt++
		case err == nil:
			ok++
		default:
			t.Errorf("batch = %v", err)
		}
	}
	if corrupt != 1 || ok != 1 {
		t.Errorf("%d corrupt and %d good batches, want 1 and 1", corrupt, ok)
	}
	if n := reported.Load(); n != 1 {
		t.Errorf("OnCorrupt called %d times, want once", n)
	}
}

// The check stops at its deadline between parts: not finished, not
// failed, even with a damaged part it did not reach.
func TestCheckTimeout(t *testing.T) {
	path := agentsFile(t)
	healthy, err := Open(path, Options{PruneInterval: -1, CheckWhole: -1})
	if err != nil {
		t.Fatal(err)
	}
	rep := healthy.Checked()
	healthy.Close()
	// The agents bucket and the results of each of three agents; the
	// other buckets are small enough to be inline.
	if !rep.Finished || rep.Skipped || rep.Parts != 4 || rep.Checked != rep.Parts {
		t.Fatalf("check of a healthy file: %+v, want all parts checked", rep)
	}

	damagePage(t, path, []string{string(bucketResults), "web-2"}, flipType)
	// Every look at the clock is a second later: the deadline two
	// seconds after the start passes after the first part (agents),
	// before the last (results/web-2).
	var clock time.Time
	tick := func() time.Time { clock = clock.Add(time.Second); return clock }
	db, err := Open(path, Options{CheckTimeout: 2 * time.Second, CheckWhole: -1, PruneInterval: -1, now: tick})
	if err != nil {
		t.Fatalf("Open with a check out of time = %v, want no error", err)
	}
	defer db.Close()
	rep = db.Checked()
	if rep.Finished || rep.Skipped || rep.Checked != 1 || rep.Parts != 4 || rep.Timeout != 2*time.Second {
		t.Errorf("Checked = %+v, want one part of %d checked, not finished", rep, rep.Parts)
	}
	if rep.Took != 3*time.Second {
		t.Errorf("Checked took %v, want 3s of the test's clock", rep.Took)
	}
	// Given the time, the check finds the damage.
	if db, err := Open(path, Options{PruneInterval: -1}); err == nil {
		db.Close()
		t.Error("Open of results/web-2 damaged, with time to check it: no error")
	}
}

// A file cut short is refused before anything reads past its end.
func TestOpenTruncated(t *testing.T) {
	path := agentsFile(t)
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	err = b.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	pageSize := b.Info().PageSize
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size-int64(pageSize)); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{})
	if err == nil {
		db.Close()
	}
	wantCorrupt(t, "Open", err, path)
}

// A file that is not empty but has no schema version is not a new
// database: Open refuses it rather than writing one.
func TestOpenNoSchema(t *testing.T) {
	tests := []struct {
		name string
		make func(tx *bolt.Tx) error
	}{
		{"no-meta", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket(bucketAgents)
			return err
		}},
		{"no-version", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket(bucketMeta)
			return err
		}},
		{"malformed-version", func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			return b.Put(keySchema, []byte{1})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "helen.db")
			b, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = b.Update(tt.make)
			b.Close()
			if err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, Options{})
			if err == nil {
				db.Close()
			}
			wantCorrupt(t, "Open", err, path)
			if !strings.Contains(err.Error(), "schema version") {
				t.Errorf("Open = %v, want it to say the schema version is missing", err)
			}
		})
	}
}

// Every transaction of the package goes through the boundary of tx.go
// (view, update, batch), which turns a panic on a damaged page into
// ErrCorrupt: no other file calls bolt's View, Update or Batch itself.
func TestTransactionsGuarded(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if name == "tx.go" || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch sel.Sel.Name {
			case "View", "Update", "Batch", "Begin":
				if inner, ok := sel.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "bolt" {
					t.Errorf("%s: bolt's %s outside the boundary of tx.go: use db.%s", fset.Position(sel.Pos()), sel.Sel.Name, strings.ToLower(sel.Sel.Name))
				}
			}
			return true
		})
	}
}

// BenchmarkOpenCheck opens a file with the results of 10,000 agents, the
// check of Open checking it whole or in parts (one a agent), each part
// costing bbolt a copy of the whole free list.
func BenchmarkOpenCheck(b *testing.B) {
	path := filepath.Join(b.TempDir(), "helen.db")
	db, err := Open(path, Options{PruneInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10_000 {
		for j := range 3 {
			if err := db.AddResult(b.Context(), newResult(fmt.Sprintf("web-%05d", i), "load", "ok", at(time.Duration(j)*time.Minute))); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := db.compactAll(nil); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	for _, whole := range []int64{DefaultCheckWhole, -1} {
		name := "whole"
		if whole < 0 {
			name = "parts"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				db, err := Open(path, Options{PruneInterval: -1, CheckWhole: whole})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(db.Checked().Parts), "parts")
				db.Close()
			}
		})
	}
}
