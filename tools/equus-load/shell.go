package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/internal/shellwire"
)

// shellSession is a shell session opened through helen's admin socket, as
// helen shell opens one: POST /v1/agents/AGENT/shell upgraded to frames.
type shellSession struct {
	c   net.Conn
	r   *shellwire.Reader
	wmu sync.Mutex
}

// openShell opens a session of command (tty: with a terminal) on agent
// through the admin socket in data.
func openShell(ctx context.Context, data, agent string, command []string, tty bool) (*shellSession, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", filepath.Join(data, "helen.sock"))
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	body, _ := json.Marshal(map[string]any{"command": command, "tty": tty, "cols": 80, "rows": 24, "term": "xterm"})
	hr, err := http.NewRequest(http.MethodPost, "http://helen/v1/agents/"+url.PathEscape(agent)+"/shell", bytes.NewReader(body))
	if err != nil {
		c.Close()
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Connection", "Upgrade")
	hr.Header.Set("Upgrade", shellwire.ALPN)
	if err := hr.Write(c); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, shellwire.HeaderLen+shellwire.MaxPayload)
	resp, err := http.ReadResponse(br, hr)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		c.Close()
		return nil, fmt.Errorf("shell on %s: %s: %s", agent, resp.Status, bytes.TrimSpace(b))
	}
	c.SetDeadline(time.Time{})
	return &shellSession{c: c, r: shellwire.NewReader(br)}, nil
}

func (s *shellSession) write(f shellwire.Frame) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return shellwire.Write(s.c, f)
}

// output reads frames until one of output (stdout or stderr) and returns
// its payload, valid until the next read; an exit frame is an error.
func (s *shellSession) output() ([]byte, error) {
	for {
		f, err := s.r.Read()
		if err != nil {
			return nil, err
		}
		switch f.Type {
		case shellwire.TypeStdout, shellwire.TypeStderr:
			return f.Payload, nil
		case shellwire.TypeExit:
			e, _ := shellwire.ParseExit(f.Payload)
			return nil, fmt.Errorf("the session exited: status %d %s %s", e.Status, e.Signal, e.Error)
		}
	}
}

// drain reads frames until the exit frame, counting the output bytes.
func (s *shellSession) drain(first func()) (n int64, exit shellwire.ExitMsg, err error) {
	for {
		f, err := s.r.Read()
		if err != nil {
			return n, exit, err
		}
		switch f.Type {
		case shellwire.TypeStdout, shellwire.TypeStderr:
			if n == 0 {
				first()
			}
			n += int64(len(f.Payload))
		case shellwire.TypeExit:
			exit, err = shellwire.ParseExit(f.Payload)
			return n, exit, err
		}
	}
}

// runShell measures shell sessions on o.agent through helen's admin
// socket: the keystroke echo round trip (echo), the output rate of one
// session (throughput), or what idle sessions hold (idle).
func runShell(ctx context.Context, o options) error {
	switch o.shell {
	case "echo":
		return shellEcho(ctx, o)
	case "throughput":
		return shellThroughput(ctx, o)
	case "idle":
		return shellIdle(ctx, o)
	}
	return fmt.Errorf("-shell %q: want echo, throughput or idle", o.shell)
}

// shellEcho opens a terminal session of cat with the terminal raw and its
// echo off, so that every byte typed comes back from the remote process
// once cat read and wrote it, as a shell's line editor echoes a key; it
// types one byte at a time, o.keys times, and prints the median, 90th
// and 99th percentile of the time each took to come back.
func shellEcho(ctx context.Context, o options) error {
	s, err := openShell(ctx, o.data, o.agent, []string{"sh", "-c", "stty raw -echo && echo ready && exec cat"}, true)
	if err != nil {
		return err
	}
	defer s.c.Close()
	var seen []byte
	for !bytes.Contains(seen, []byte("ready")) {
		p, err := s.output()
		if err != nil {
			return fmt.Errorf("waiting for cat: %w", err)
		}
		seen = append(seen, p...)
	}
	ds := make([]time.Duration, 0, o.keys)
	key := []byte{'a'}
	for i := 0; i < o.keys && ctx.Err() == nil; i++ {
		key[0] = 'a' + byte(i%26)
		t0 := time.Now()
		if err := s.write(shellwire.Frame{Type: shellwire.TypeStdin, Payload: key}); err != nil {
			return err
		}
		for got := false; !got; {
			p, err := s.output()
			if err != nil {
				return fmt.Errorf("key %d: %w", i, err)
			}
			got = bytes.IndexByte(p, key[0]) >= 0
		}
		ds = append(ds, time.Since(t0))
	}
	s.write(shellwire.SignalFrame(shellwire.SigKILL))
	slices.Sort(ds)
	q := func(f float64) time.Duration { return ds[min(len(ds)-1, int(f*float64(len(ds))))] }
	fmt.Printf("echo round trip over %d keys: median %v, p90 %v, p99 %v, max %v\n",
		len(ds), q(0.5).Round(time.Microsecond), q(0.9).Round(time.Microsecond), q(0.99).Round(time.Microsecond), ds[len(ds)-1].Round(time.Microsecond))
	return nil
}

// shellThroughput runs head -c o.bytes /dev/zero (with -source yes: the
// first o.bytes of yes, lines of "y") in one session (with a terminal with
// -tty) and prints the rate its output came at, from its first byte to
// its exit.
func shellThroughput(ctx context.Context, o options) error {
	cmd := []string{"head", "-c", fmt.Sprint(o.bytes), "/dev/zero"}
	if o.source == "yes" {
		cmd = []string{"sh", "-c", fmt.Sprintf("yes | head -c %d", o.bytes)}
	}
	t0 := time.Now()
	s, err := openShell(ctx, o.data, o.agent, cmd, o.tty)
	if err != nil {
		return err
	}
	defer s.c.Close()
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()
	var first time.Time
	n, exit, err := s.drain(func() { first = time.Now() })
	end := time.Now()
	if err != nil {
		return err
	}
	if exit.Status != 0 || exit.Error != "" {
		return fmt.Errorf("%v exited %d %s", cmd, exit.Status, exit.Error)
	}
	// A terminal turns each of yes's newlines into a carriage return and
	// a newline: more bytes come than the command wrote.
	if n != o.bytes && (!o.tty || o.source != "yes" || n < o.bytes) {
		return fmt.Errorf("%d bytes of output, want %d", n, o.bytes)
	}
	secs := end.Sub(first).Seconds()
	fmt.Printf("throughput (%s, tty %v): %d bytes in %.3f s from the first byte: %.1f MB/s (%.3f s from the request)\n",
		o.source, o.tty, n, secs, float64(n)/secs/1e6, end.Sub(t0).Seconds())
	return nil
}

// shellIdle opens o.sessions terminal sessions of a shell reading its
// terminal (sh), says so, and holds them idle for o.duration or until
// interrupted, so that what helen and the agent hold for them can be read.
func shellIdle(ctx context.Context, o options) error {
	var ss []*shellSession
	defer func() {
		for _, s := range ss {
			s.c.Close()
		}
	}()
	for range o.sessions {
		s, err := openShell(ctx, o.data, o.agent, []string{"sh"}, true)
		if err != nil {
			return fmt.Errorf("after %d sessions: %w", len(ss), err)
		}
		ss = append(ss, s)
		// Read what they print, the prompt, so that nothing waits on us.
		go func() {
			for {
				if _, err := s.r.Read(); err != nil {
					return
				}
			}
		}()
	}
	fmt.Printf("%d idle sessions open\n", len(ss))
	os.Stdout.Sync()
	select {
	case <-ctx.Done():
	case <-time.After(o.duration):
	}
	return nil
}

// errShellFlags is the error of bad flags with -shell.
var errShellFlags = errors.New("-shell takes -agent NAME, -keys 1 to 1000000, -bytes 1 to 1e12, -source zero or yes and -sessions 1 to 1000")
