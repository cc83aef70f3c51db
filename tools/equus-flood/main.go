// Command equus-flood is a hostile helen for one real agent process. It
// makes a CA and the agent's certificate, starts the agent (the equus
// binary given) against itself over mutual TLS on loopback, sends checks
// as fast as it can and reads no result, and samples the agent's memory
// from /proc (Linux). Once its writes block, or every check is sent, and
// the agent's memory has settled, it prints the agent's VmRSS and VmHWM
// (its peak), then reads every result and checks that each check got
// exactly one.
//
//	go build -o /tmp/equus . && go run ./tools/equus-flood -equus /tmp/equus -builtin 400000 -lua 100000
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "equus-flood:", err)
		os.Exit(1)
	}
}

type options struct {
	equus          string
	builtin, lua   int
	argBytes       int
	resultBytes    int
	settle, sample time.Duration
	agentArgs      []string
}

// fastCheck is the Lua check the flood sends: it answers at once, with a
// message of args.size bytes.
const fastCheck = `return { description = "answers at once", run = function(args) return { status = "ok", message = string.rep("r", args.size or 1) } end }`

func run() error {
	var o options
	flag.StringVar(&o.equus, "equus", "", "the equus `BINARY` to run as the agent")
	flag.IntVar(&o.builtin, "builtin", 400000, "how many equus.ping checks to send")
	flag.IntVar(&o.lua, "lua", 100000, "how many Lua checks to send, spread among the built-ins")
	flag.IntVar(&o.argBytes, "args", 0, "pad every check's args to about `BYTES`")
	flag.IntVar(&o.resultBytes, "result", 1, "the Lua checks answer with a message of `BYTES`")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "how long sending and memory must not move before the figures are read")
	flag.DurationVar(&o.sample, "sample", 50*time.Millisecond, "how often to read the agent's memory")
	flag.Parse()
	o.agentArgs = flag.Args()
	if o.equus == "" {
		return errors.New("give -equus BINARY")
	}
	if o.builtin < 0 || o.lua < 0 || o.builtin+o.lua == 0 || o.builtin+o.lua >= 1<<31-1 || o.argBytes < 0 || o.argBytes > wire.MaxBlob-64 || o.resultBytes < 1 || o.resultBytes > wire.MaxBlob {
		return errors.New("bad -builtin, -lua, -args or -result")
	}
	dir, err := os.MkdirTemp("", "equus-flood-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tlsCfg, err := setup(dir)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()

	args := append([]string{"--log-level", "warn", "equus", "--helen", ln.Addr().String(),
		"--ca", filepath.Join(dir, "ca.pem"), "--cert", filepath.Join(dir, "agent.pem"), "--key", filepath.Join(dir, "agent-key.pem"),
		"--checks", filepath.Join(dir, "checks"), "--data", filepath.Join(dir, "data")}, o.agentArgs...)
	agent := exec.Command(o.equus, args...)
	agent.Stderr = os.Stderr
	if err := agent.Start(); err != nil {
		return err
	}
	defer func() {
		agent.Process.Signal(syscall.SIGINT)
		agent.Wait()
	}()
	fmt.Printf("agent: %s %s (pid %d)\n", o.equus, strings.Join(args, " "), agent.Process.Pid)

	ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("the agent did not connect: %w", err)
	}
	conn := tls.Server(c, tlsCfg)
	defer conn.Close()
	br := bufio.NewReader(conn)
	if _, err := br.ReadString('\n'); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	return flood(o, conn, br, agent.Process.Pid)
}

// setup writes the CA, the agent's certificate and key and the check
// directory into dir, and returns helen's TLS configuration.
func setup(dir string) (*tls.Config, error) {
	now := time.Now()
	ca, err := pki.NewCA("equus-flood CA", now)
	if err != nil {
		return nil, err
	}
	server, err := ca.IssueServer([]string{"127.0.0.1"}, now)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssueClient("flood-1", now)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "checks"), 0o700); err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{"ca.pem": ca.CertPEM, "agent.pem": certPEM, "agent-key.pem": keyPEM, "checks/fast.lua": []byte(fastCheck)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	cfg := pki.ServerConfig(ca, server, []string{wire.ALPN})
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	return cfg, nil
}

// flood sends the checks without reading, prints the agent's memory once
// things have settled, then reads every result.
func flood(o options, conn net.Conn, br *bufio.Reader, pid int) error {
	total := o.builtin + o.lua
	pad, err := json.Marshal(map[string]any{"size": o.resultBytes, "pad": strings.Repeat("x", o.argBytes)})
	if err != nil {
		return err
	}
	// name tells which check id i+1 is: the Lua ones spread evenly.
	name := func(i int) string {
		if (i+1)*o.lua/total > i*o.lua/total {
			return "fast"
		}
		return "equus.ping"
	}
	var sent atomic.Int64
	sendDone := make(chan error, 1)
	start := time.Now()
	go func() {
		w := wire.NewWriter(conn)
		for i := range total {
			if err := w.Write(wire.Check(name(i), int32(i+1), pad)); err != nil {
				sendDone <- err
				return
			}
			sent.Add(1)
		}
		sendDone <- w.Flush()
	}()

	// Wait until neither the count sent nor the agent's RSS moves for the
	// settle time.
	var lastSent, lastRSS int64 = -1, -1
	still := time.Now()
	for time.Since(still) < o.settle {
		time.Sleep(o.sample)
		rss, _, err := memory(pid)
		if err != nil {
			return err
		}
		n := sent.Load()
		if n != lastSent || rss > lastRSS+1<<20 || rss < lastRSS-1<<20 {
			lastSent, lastRSS, still = n, rss, time.Now()
		}
	}
	rss, hwm, err := memory(pid)
	if err != nil {
		return err
	}
	state := "writes blocked"
	if len(sendDone) > 0 {
		state = "all sent"
	}
	fmt.Printf("helen reads nothing: sent %d of %d checks (%d built-in, %d Lua; args %d bytes, Lua results %d bytes) in %s, %s\n",
		lastSent, total, o.builtin, o.lua, len(pad), o.resultBytes, time.Since(start).Round(time.Millisecond), state)
	fmt.Printf("agent VmRSS %d KiB (%.1f MiB), VmHWM %d KiB (%.1f MiB)\n", rss>>10, float64(rss)/(1<<20), hwm>>10, float64(hwm)/(1<<20))

	// Read every result, once each.
	r := wire.NewReader(br)
	seen := make([]bool, total+1)
	busy := 0
	for got := 0; got < total; got++ {
		m, err := r.Read()
		if err != nil {
			return fmt.Errorf("after %d results: %w", got, err)
		}
		if m.Kind != wire.KindResult || m.ID < 1 || int(m.ID) > total || seen[m.ID] || m.Name != name(int(m.ID)-1) {
			return fmt.Errorf("unexpected %s %d %s (a second result, or for no check sent)", m.Kind, m.ID, m.Name)
		}
		seen[m.ID] = true
		var d result.Doc
		if err := json.Unmarshal(m.Blob, &d); err != nil {
			return fmt.Errorf("result %d: %w", m.ID, err)
		}
		switch {
		case d.Status == result.OK:
		case strings.HasPrefix(d.Message, "agent busy:"):
			busy++
		default:
			return fmt.Errorf("result %d %s: %s %s", m.ID, m.Name, d.Status, d.Message)
		}
	}
	if err := <-sendDone; err != nil {
		return err
	}
	_, hwm, err = memory(pid)
	if err != nil {
		return err
	}
	fmt.Printf("helen read: %d results, one for every check (%d answered busy), in %s; agent VmHWM %d KiB (%.1f MiB)\n",
		total, busy, time.Since(start).Round(time.Millisecond), hwm>>10, float64(hwm)/(1<<20))
	return nil
}

// memory reads the VmRSS and VmHWM of process pid, in bytes.
func memory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			rss = kb << 10
		}
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, hwm, nil
}
