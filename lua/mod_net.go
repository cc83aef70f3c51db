package lua

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	glua "github.com/yuin/gopher-lua"
)

func init() { register("net", openNet) }

const defaultDialTimeout = 5 * time.Second

// netAPI is the net module: TCP connections and name lookups.
var netAPI = map[string]glua.LGFunction{
	"tcp_connect": netTCPConnect,
	"lookup":      netLookup,
}

func openNet(*Env) glua.LGFunction {
	return func(L *glua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), netAPI))
		return 1
	}
}

// netTCPConnect is net.tcp_connect(host_port, timeout_ms) -> {latency_ms},
// or nil, err: it opens a TCP connection to "host:port" ("[::1]:22" for
// IPv6), waiting at most timeout_ms (default 5000), and closes it at once.
// latency_ms includes the name lookup.
func netTCPConnect(L *glua.LState) int {
	addr := L.CheckString(1)
	ms := L.OptNumber(2, glua.LNumber(defaultDialTimeout/time.Millisecond))
	if ms <= 0 {
		L.ArgError(2, "timeout_ms must be positive")
	}
	timeout := time.Duration(float64(ms) * float64(time.Millisecond))
	ctx, cancel := context.WithTimeout(callContext(L), timeout)
	defer cancel()
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no connection within %v", timeout)
		}
		return returnFailure(L, "connect "+addr, netCause(err))
	}
	latency := msSince(start)
	conn.Close()
	L.Push(newRecord(L, map[string]any{"latency_ms": latency}))
	return 1
}

// netLookup is net.lookup(name) -> list of addresses (strings), or nil,
// err when the name does not resolve.
func netLookup(L *glua.LState) int {
	name := L.CheckString(1)
	addrs, err := net.DefaultResolver.LookupHost(callContext(L), name)
	if err != nil {
		return returnFailure(L, "lookup "+name, netCause(err))
	}
	list := L.CreateTable(len(addrs), 0)
	for _, a := range addrs {
		list.Append(glua.LString(a))
	}
	L.Push(list)
	return 1
}

// netCause returns the cause of a dial or lookup error without the
// operation and address it repeats ("dial tcp 127.0.0.1:1: connect:
// connection refused" is "connection refused"), which the module's own
// message already names.
func netCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		err = sys.Err
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		err = errors.New(dns.Err)
	}
	return err
}
