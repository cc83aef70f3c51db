package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
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
// prints its length, the time it ended and the registrations in each
// second of it. A script restarts helen meanwhile (restart.sh), or kills
// one helen of several (cluster-kill.sh).
//
// With several helens (-helen A,B,C) agent i dials the i-th first, so that
// the agents spread evenly, and then as equus does (modes/equus's
// rotation): when a dial fails or a session ends, the others in a random
// order, the one it last dialed last, with the restart window's short
// retry where it applies; its backoff grows only once it tried them all.
// After try_elsewhere it dials the next within a second, jittered.

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
	f := &fleet{n: o.n}
	cfgs := make([]*tls.Config, o.n)
	for i := range o.n {
		name := agentName(o, i)
		certPEM, keyPEM, err := ca.IssueClient(name, time.Now())
		if err != nil {
			return fmt.Errorf("issue %s: %w", name, err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return err
		}
		// No server name: the dial takes it from the helen's address.
		if cfgs[i], err = pki.ClientConfig(pki.Trust{CA: ca.Cert}, "", &cert, []string{wire.ALPN}); err != nil {
			return err
		}
		if o.resume {
			cfgs[i].ClientSessionCache = pki.NewSessionCache(1)
		}
	}
	fmt.Printf("%d agents, certificates issued; connecting to %s\n", o.n, strings.Join(o.helens, ", "))
	// The first connections a few at a time, as -dialers says; then each
	// agent on its own.
	sem := make(chan struct{}, o.dialers)
	var wg sync.WaitGroup
	for i := range o.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reconnectAgent(ctx, o, cfgs[i], o.offset+i, f, sem)
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
		fmt.Printf("round %d: all %d agents back %.2f s after the first connection lost (at %.3f, ended at %.3f); registrations by second:%s\n",
			f.rounds, f.n, took.Seconds(), unixSeconds(f.start), unixSeconds(time.Now()), b.String())
	} else {
		fmt.Printf("all %d agents registered\n", f.n)
	}
	os.Stdout.Sync()
	f.steady = true
	f.start = time.Time{}
	f.perSec = nil
}

// unixSeconds is t in seconds since 1970, as date +%s.%N prints it.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

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

// rotation is the order in which an agent dials its helens, as equus's:
// a round holds every address in a random order, the one last dialed
// last; the first round begins with the agent's own first.
type rotation struct {
	addrs []string
	cur   int   // the address of the last attempt
	left  []int // the round's addresses not tried yet
}

func newRotation(addrs []string, first int) *rotation {
	r := &rotation{addrs: addrs, cur: first}
	r.begin()
	r.left = append([]int{first}, slices.DeleteFunc(r.left, func(i int) bool { return i == first })...)
	return r
}

// next returns the address to dial now.
func (r *rotation) next() string {
	if len(r.left) == 0 {
		r.begin()
	}
	r.cur, r.left = r.left[0], r.left[1:]
	return r.addrs[r.cur]
}

// over reports whether every address of the round was tried.
func (r *rotation) over() bool { return len(r.left) == 0 }

// accepted records that a helen accepted a session: the next attempt
// begins a new round.
func (r *rotation) accepted() { r.left = nil }

func (r *rotation) begin() {
	r.left = rand.Perm(len(r.addrs))
	if i := slices.Index(r.left, r.cur); i >= 0 && len(r.left) > 1 {
		r.left = append(slices.Delete(r.left, i, i+1), r.cur)
	}
}

// reconnectAgent runs the sessions of agent i until ctx ends.
func reconnectAgent(ctx context.Context, o options, cfg *tls.Config, i int, f *fleet, sem chan struct{}) {
	rot := newRotation(o.helens, i%len(o.helens))
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
		addr := rot.next()
		host, _, _ := net.SplitHostPort(addr)
		accepted, err := reconnectSession(ctx, addr, o.version, cfg, sourceAddr(host, i), f, func() {
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
		if accepted {
			rot.accepted()
		}
		if errors.Is(err, errElsewhere) && !rot.over() {
			wait, fast = rand.N(time.Second), true
		} else if o.restartWindow > 0 {
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
		switch {
		case fast:
		case rot.over():
			wait = bo.Next()
		default:
			wait = bo.Again()
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
	errElsewhere    = fmt.Errorf("%w: try_elsewhere", errHelen)
	errHelen        = errors.New("helen said") // an error or reload from helen, not a broken connection
)

// reconnectSession runs one connection: dial, hello, answer checks until
// it ends. registered is called once helen sent the first check, and
// accepted reports whether it did.
func reconnectSession(ctx context.Context, addr, version string, cfg *tls.Config, from net.Addr, f *fleet, registered func()) (accepted bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	d := tls.Dialer{NetDialer: &net.Dialer{LocalAddr: from}, Config: cfg}
	nc, err := d.DialContext(dctx, "tcp", addr)
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
	if w.Write(wire.Hello(version)) != nil || w.Flush() != nil {
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
			switch code, _, _ := strings.Cut(m.Text, " "); wire.Code(code) {
			case wire.CodeShuttingDown:
				f.shutting.Add(1)
				return counted, errShuttingDown
			case wire.CodeTryElsewhere:
				return counted, errElsewhere
			}
			return counted, fmt.Errorf("%w: %s", errHelen, m.Text)
		case wire.KindReload:
			return counted, fmt.Errorf("%w: reload", errHelen)
		}
	}
}
