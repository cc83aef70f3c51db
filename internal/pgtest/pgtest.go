// Package pgtest gives tests a real PostgreSQL server: the one named by
// EQUUS_POSTGRES_URL (CI starts one), or else one it starts itself from
// Debian's postgresql package in a temporary directory, on a Unix socket
// there only, stopped when the test binary ends (Main). Each test gets a
// database of its own (DB), dropped at its end.
//
// Without PostgreSQL a test skips with a message; with
// EQUUS_REQUIRE_POSTGRES=1 set (as CI does) it fails instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The environment variables of the package.
const (
	// URLEnv names a server the tests may make databases on, as a URL
	// of a role allowed to CREATE DATABASE.
	URLEnv = "EQUUS_POSTGRES_URL"
	// RequireEnv set to 1 makes a missing server a failure.
	RequireEnv = "EQUUS_REQUIRE_POSTGRES"
)

var (
	once     sync.Once
	adminURL string // the server's URL, to its postgres database
	startErr error
	stopFn   func()
)

// Main runs the tests of m, then stops the server this package started
// for them, if it started one. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the server this package started, if it started one: for a
// TestMain that does more than Main.
func Stop() {
	if stopFn != nil {
		stopFn()
		stopFn = nil
	}
}

// Available reports whether a server can be had, and why not.
func Available() (string, error) {
	once.Do(func() { adminURL, startErr = server() })
	return adminURL, startErr
}

// DB returns the URL of a new, empty database for t, dropped when t ends.
// Without a server it skips t, or fails it under EQUUS_REQUIRE_POSTGRES=1.
func DB(t testing.TB) string {
	t.Helper()
	admin, err := Available()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("PostgreSQL is required (%s=1) and there is none: %v", RequireEnv, err)
		}
		t.Skipf("no PostgreSQL (set %s, or install Debian's postgresql): %v", URLEnv, err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "equus_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", redact(admin), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", URLEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// server returns the URL of the server named by URLEnv, or starts one.
func server() (string, error) {
	if u := os.Getenv(URLEnv); u != "" {
		return u, nil
	}
	bin, err := findBin()
	if err != nil {
		return "", err
	}
	return start(bin)
}

// findBin returns the directory of PostgreSQL's programs: where initdb is
// on PATH, or Debian's newest /usr/lib/postgresql/N/bin.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no initdb on PATH or in /usr/lib/postgresql/*/bin")
}

// start makes a cluster in a temporary directory and starts it on a Unix
// socket there, as the postgres user when run as root (PostgreSQL refuses
// to run as root). It is stopped and removed by Main.
func start(bin string) (string, error) {
	dir, err := os.MkdirTemp("", "equus-pg-")
	if err != nil {
		return "", err
	}
	var as []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		as = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(args ...string) error {
		args = append(as, args...)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = "/" // the postgres user may not enter the test's directory
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", filepath.Base(args[len(as)]), err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run(filepath.Join(bin, "initdb"), "-D", data, "-U", "equus", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C"); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	// Durability is the server's own business, tested by PostgreSQL:
	// the tests' server does not sync, which makes it quick.
	opts := "-k " + dir + " -c listen_addresses= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
	if err := run(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	stopFn = func() {
		run(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	}
	return (&url.URL{Scheme: "postgres", User: url.User("equus"), Path: "/postgres", RawQuery: "host=" + url.QueryEscape(dir)}).String(), nil
}

// redact returns u without its password.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
