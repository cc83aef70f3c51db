package helen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"
)

// socketPeer listens on the admin socket of a fresh data directory and
// hands each accepted connection to serve; it returns the directory.
func socketPeer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eqc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, server.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return dir
}

// A request to a helen that never answers ends with its context, with
// the context's error, and closes its connection.
func TestSocketTransportContext(t *testing.T) {
	closed := make(chan struct{})
	dir := socketPeer(t, func(c net.Conn) {
		defer close(closed)
		io.Copy(io.Discard, c) // read the request, answer nothing, until the client closes
		c.Close()
	})
	a, err := dialAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	var out any
	err = a.do(ctx, http.MethodGet, "/v1/agents", nil, &out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection stayed open after the request was cancelled")
	}
}

// Each request goes on a connection of its own, the first on the one
// dialAdmin opened, asks helen to close it, and is closed once read.
func TestSocketTransportConnections(t *testing.T) {
	conns := make(chan string, 4)
	dir := socketPeer(t, func(c net.Conn) {
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			conns <- "no request: " + err.Error()
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
		// The client closes its end once it has read the answer.
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			conns <- "not closed by the client: " + err.Error()
			return
		}
		conns <- req.URL.Path + " close=" + map[bool]string{true: "yes", false: "no"}[req.Close]
	})
	a, err := dialAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	for _, p := range []string{"/one", "/two"} {
		var out struct{ A int }
		if err := a.do(context.Background(), http.MethodGet, p, nil, &out); err != nil || out.A != 1 {
			t.Fatalf("%s: %v %+v", p, err, out)
		}
		if got := <-conns; got != p+" close=yes" {
			t.Fatalf("%s: %s", p, got)
		}
	}
}
