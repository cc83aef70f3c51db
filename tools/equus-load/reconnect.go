package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/equus-monitoring/equus/internal/backoff"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// The reconnect mode (-reconnect) plays agents that come back as equus
// does when their connection ends: after helen's error shutting_down, or
// an accepted session's connection broken, they retry every 0.25-1 s for
// -restart-window whatever their backoff grew to (backoff.Restart), and
// otherwise back off as equus does (full jitter, 1 s doubling to 60 s,
// reset after a session up for 60 s). With -resume they keep a TLS
// session cache, as equus does, and resume their session when helen
// allows. An agent counts as registered from the first check helen sends
// on a connection (equus.info, sent once helen recorded it) until that
// connection ends. Once all are registered, the first connection lost
// starts a round, which ends when all are registered again: the tool
// prints its length and the registrations in each second of it. A
// script restarts helen meanwhile (restart.sh).

// fleet is the reconnecting agents' shared count.
type fleet struct {
	n          int
	registered atomic.Int64
	handshakes atomic.Int64 // completed, in all
	resumed    atomic.Int64 // of which resumed
	refused    atomic.Int64 // dials refused or failed
	shutting   atomic.Int64 // shutting_down received

	mu     sync.Mutex
	steady bool      // all registered, no round open
	start  time.Time // of the open round
	perSec []int     // registrations in each second of the open round
	rounds int
}

func runReconnect(ctx context.Context, o options, ca *pki.CA) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	host, _, err := net.SplitHostPort(o.helen)
	if err != nil {
		return err
	}
	f := &fleet{n: o.n}
	cfgs := make([]*tls.Config, o.n)
	for i := range o.n {
		name := fmt.Sprintf("%s%04d", o.prefix, i+1)
		certPEM, keyPEM, err := ca.IssueClient(name, time.Now())
		if err != nil {
			return fmt.Errorf("issue %s: %w", name, err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return err
		}
		if cfgs[i], err = pki.ClientConfig(pki.Trust{CA: ca.Cert}, host, &cert, []string{wire.ALPN}); err != nil {
			return err
		}
		if o.resume {
			cfgs[i].ClientSessionCache = pki.NewSessionCache(1)
		}
	}
	fmt.Printf("%d agents, certificates issued; connecting to %s\n", o.n, o.helen)
	// The first connections a few at a time, as -dialers says; then each
	// agent on its own.
	sem := make(chan struct{}, o.dialers)
	var wg sync.WaitGroup
	for i := range o.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reconnectAgent(ctx, o, cfgs[i], sourceAddr(host, i), f, sem)
		}()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	end := time.After(o.duration)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
			f.watch()
		}
	}
	stop()
	wg.Wait()
	fmt.Printf("handshakes %d (resumed %d), dials failed %d, shutting_down received %d, rounds %d\n",
		f.handshakes.Load(), f.resumed.Load(), f.refused.Load(), f.shutting.Load(), f.rounds)
	return nil
}

// watch says when all the agents are registered.
func (f *fleet) watch() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.steady || int(f.registered.Load()) < f.n {
		return
	}
	if !f.start.IsZero() {
		f.rounds++
		took := time.Since(f.start)
		var b strings.Builder
		for i, c := range f.perSec {
			fmt.Fprintf(&b, " %d:%d", i, c)
		}
		fmt.Printf("round %d: all %d agents back %.2f s after the first connection lost; registrations by second:%s\n",
			f.rounds, f.n, took.Seconds(), b.String())
	} else {
		fmt.Printf("all %d agents registered\n", f.n)
	}
	os.Stdout.Sync()
	f.steady = true
	f.start = time.Time{}
	f.perSec = nil
}

// lost counts a registered connection's end; the first while steady
// starts a round.
func (f *fleet) lost() {
	f.registered.Add(-1)
	f.mu.Lock()
	if f.steady {
		f.steady = false
		f.start = time.Now()
		f.perSec = nil
	}
	f.mu.Unlock()
}

func (f *fleet) gained() {
	f.registered.Add(1)
	f.mu.Lock()
	if !f.start.IsZero() {
		sec := int(time.Since(f.start) / time.Second)
		for len(f.perSec) <= sec {
			f.perSec = append(f.perSec, 0)
		}
		f.perSec[sec]++
	}
	f.mu.Unlock()
}

// reconnectAgent runs one agent's sessions until ctx ends.
func reconnectAgent(ctx context.Context, o options, cfg *tls.Config, from net.Addr, f *fleet, sem chan struct{}) {
	bo := &backoff.Exponential{Min: time.Second, Max: time.Minute, Jitter: backoff.FullJitter}
	first := true // holds a place in sem until registered
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	rs := &backoff.Restart{Window: o.restartWindow}
	for ctx.Err() == nil {
		start := time.Now()
		accepted, err := reconnectSession(ctx, o, cfg, from, f, func() {
			if first {
				first = false
				<-sem
			}
		})
		if time.Since(start) >= time.Minute {
			bo.Reset()
		}
		// As equus's retryWait does; -restart-window 0 plays an agent that
		// backs off after shutting_down as after any error.
		var wait time.Duration
		fast := false
		if o.restartWindow > 0 {
			if accepted {
				rs.Accepted()
			}
			shutting := errors.Is(err, errShuttingDown)
			broke := !errors.Is(err, errHelen)
			if (shutting || broke && accepted) && rs.Sign() {
				bo.Reset()
			}
			if shutting || broke {
				wait, fast = rs.Next()
			}
		}
		if !fast {
			wait = bo.Next()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if first {
		<-sem
	}
}

// sourceAddr returns the address agent i dials helen from: with helen on
// IPv4 loopback, 127.1.x.y, one each, so that helen counts them apart
// as it does a fleet's machines (its bound of connections per address
// would refuse most of a fleet from one); else the system's choice.
func sourceAddr(helenHost string, i int) net.Addr {
	ip := net.ParseIP(helenHost).To4()
	if ip == nil || !ip.IsLoopback() {
		return nil
	}
	return &net.TCPAddr{IP: net.IPv4(127, 1, byte(i>>8), byte(i))}
}

var (
	errShuttingDown = fmt.Errorf("%w: shutting_down", errHelen)
	errHelen        = errors.New("helen said") // an error or reload from helen, not a broken connection
)

// reconnectSession runs one connection: dial, hello, answer checks until
// it ends. registered is called once helen sent the first check, and
// accepted reports whether it did.
func reconnectSession(ctx context.Context, o options, cfg *tls.Config, from net.Addr, f *fleet, registered func()) (accepted bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	d := tls.Dialer{NetDialer: &net.Dialer{LocalAddr: from}, Config: cfg}
	nc, err := d.DialContext(dctx, "tcp", o.helen)
	cancel()
	if err != nil {
		if c, ok := cfg.ClientSessionCache.(*pki.SessionCache); ok {
			c.Failed(err)
		}
		f.refused.Add(1)
		return false, err
	}
	c := nc.(*tls.Conn)
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	f.handshakes.Add(1)
	if c.ConnectionState().DidResume {
		f.resumed.Add(1)
	}
	w := wire.NewWriter(c)
	if w.Write(wire.Hello(o.version)) != nil || w.Flush() != nil {
		return false, errors.New("hello")
	}
	r := wire.NewReader(c)
	doc := result.Doc{Status: result.OK, Message: "ok", DurationMS: 0.01}
	blob := doc.Encode(wire.MaxBlob)
	counted := false
	defer func() {
		if counted {
			f.lost()
		}
	}()
	for {
		m, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.EOF
			}
			return counted, err
		}
		switch m.Kind {
		case wire.KindCheck:
			if !counted {
				counted = true
				f.gained()
				registered()
			}
			if w.Write(wire.Result(m.ID, m.Name, blob)) != nil || w.Flush() != nil {
				return true, errors.New("write")
			}
		case wire.KindError:
			if code, _, _ := strings.Cut(m.Text, " "); wire.Code(code) == wire.CodeShuttingDown {
				f.shutting.Add(1)
				return counted, errShuttingDown
			}
			return counted, fmt.Errorf("%w: %s", errHelen, m.Text)
		case wire.KindReload:
			return counted, fmt.Errorf("%w: reload", errHelen)
		}
	}
}
