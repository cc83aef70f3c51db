package lua

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// closedPort returns a local TCP port that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}

func TestNetTCPConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	L := newModState(t, nil)
	L.SetGlobal("ADDR", glua.LString(ln.Addr().String()))
	res := mustSucceed(t, evalLua(t, L, "return require('net').tcp_connect(ADDR, 1000)"))
	if l := number(t, res, "latency_ms"); l <= 0 || l > 1000 {
		t.Errorf("latency_ms = %v", l)
	}
	conn, err := ln.Accept() // the connection was made, and closed
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("the connection was left open: read %d, %v", n, err)
	}
	conn.Close()

	L.SetGlobal("CLOSED", glua.LString(net.JoinHostPort("127.0.0.1", itoa(closedPort(t)))))
	vals := evalLua(t, L, "return require('net').tcp_connect(CLOSED)")
	if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "refused") {
		t.Errorf("connect to a closed port = %v", vals)
	}
	for _, call := range []string{"tcp_connect()", "tcp_connect(ADDR, -1)", "tcp_connect(ADDR, 'x')"} {
		if _, err := tryLua(L, "return require('net')."+call); err == nil {
			t.Errorf("net.%s was not refused", call)
		}
	}
	vals = evalLua(t, L, "return require('net').tcp_connect('no port')")
	if len(vals) != 2 || vals[0] != glua.LNil {
		t.Errorf("connect without a port = %v", vals)
	}
}

func itoa(n int) string { return glua.LNumber(n).String() }

func TestNetLookup(t *testing.T) {
	L := newModState(t, nil)
	ctx, cancel := contextWithTimeout(t, 5*time.Second)
	defer cancel()
	L.SetContext(ctx)
	list := mustSucceed(t, evalLua(t, L, "return require('net').lookup('localhost')")).(*glua.LTable)
	var addrs []string
	list.ForEach(func(_, v glua.LValue) { addrs = append(addrs, v.String()) })
	if !strings.Contains(strings.Join(addrs, " "), "127.0.0.1") && !strings.Contains(strings.Join(addrs, " "), "::1") {
		t.Errorf("lookup('localhost') = %v", addrs)
	}
	// A name that is not a domain name fails without asking a server.
	vals := evalLua(t, L, "return require('net').lookup('no..such..name')")
	if len(vals) != 2 || vals[0] != glua.LNil || !strings.Contains(vals[1].String(), "lookup no..such..name") {
		t.Errorf("lookup of a bad name = %v", vals)
	}
}
