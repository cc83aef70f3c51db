package server

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// failingListener is a listener whose Accept fails for good, as a socket
// taken away under helen would.
type failingListener struct{ net.Listener }

func (l failingListener) Accept() (net.Conn, error) {
	return nil, errors.New("listener broken")
}

// TestServeReturnsWhenAListenerFails checks that Serve shuts down and
// returns the error of a listener that fails, without its context ending.
func TestServeReturnsWhenAListenerFails(t *testing.T) {
	dir := t.TempDir()
	srv, err := New(Config{DataDir: dir, Executable: filepath.Join(dir, "none")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ls, err := srv.Listen("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls.Ops = failingListener{ls.Ops}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ls) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "listener broken") {
			t.Fatalf("Serve = %v, want the listener's error", err)
		}
	case <-time.After(waitFor):
		cancel()
		<-done
		t.Fatal("Serve did not return after its listener failed")
	}
}
