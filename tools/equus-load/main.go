// Command equus-load opens many agent connections to a helen over mutual
// TLS, answers every check at once, and reports when the checks came: a
// histogram of their times within the schedule's interval, and the checks
// per second. It issues its agents' certificates from helen's CA in helen's
// data directory, so it runs on helen's machine, against loopback.
//
//	equus-load -data DIR -helen 127.0.0.1:7480 -n 1000 -every 10s -for 70s
//
// With -reconnect its agents reconnect as equus does, and it prints how
// long the fleet took to be all back after each restart of helen (see
// reconnect.go and restart.sh).
//
// With -run CHECK it instead runs a check on a connected agent through
// helen's admin socket, -inflight requests at once (see run.go):
//
//	equus-load -data DIR -run equus.ping -agent web-1 -inflight 64 -for 20s
//
// With -shell echo|throughput|idle it instead measures shell sessions on
// a connected agent through helen's admin socket (see shell.go):
//
//	equus-load -data DIR -shell echo -agent web-1 -keys 1000
//
// With -idle N it instead holds N idle HTTPS connections without a client
// certificate (see idle.go), and with -probe times an agent connecting
// meanwhile:
//
//	equus-load -data DIR -helen 127.0.0.1:7480 -idle 5000 -sources 127.1.0.0/16 -probe -for 60s
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/equus-monitoring/equus/internal/backoff"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state/pgstore"
	"github.com/equus-monitoring/equus/wire"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "equus-load:", err)
		os.Exit(1)
	}
}

type options struct {
	data, helen, prefix, version string
	n, buckets, dialers          int
	every, duration, warmup      time.Duration

	helens              []string // -helen's addresses
	offset              int      // the number of the agent before the first
	store, storeKeyFile string   // the shared store that holds helen's CA

	idle    int    // idle connections without a certificate, instead of agents
	sources string // loopback prefix the idle connections come from
	refresh time.Duration
	probe   bool

	reconnect        bool          // agents that come back as equus does
	restartWindow    time.Duration // their fast retry after a restart
	resume           bool          // their TLS session cache
	run, agent, args string        // run a check through the admin API, instead of agents
	inflight, batch  int

	shell    string // measure shell sessions on -agent: echo, throughput or idle
	keys     int    // with -shell echo: keys typed
	bytes    int64  // with -shell throughput: bytes of output
	sessions int    // with -shell idle: sessions held
	tty      bool   // with -shell throughput: with a terminal
	source   string // with -shell throughput: zero (/dev/zero) or yes

	cpuProfile string // where to write a CPU profile of the tool itself

	fsync         string // measure write+fdatasync in this directory, instead of helen
	writes, syncs int
}

func run() error {
	var o options
	flag.StringVar(&o.data, "data", "", "helen's data `DIR` (its CA issues the agents' certificates)")
	flag.StringVar(&o.helen, "helen", "127.0.0.1:7480", "helen's agents' `ADDRESS`, or the addresses of several helens of one store, separated by commas: agent i starts at the i-th (counting around), and with -reconnect fails over to the others as equus does")
	flag.IntVar(&o.n, "n", 1000, "how many agents")
	flag.IntVar(&o.offset, "offset", 0, "number the agents from `N`+1 (names and source addresses), so that several equus-load processes play one fleet")
	flag.StringVar(&o.store, "store", "", "take helen's CA from the shared store at `URL` (postgres://...), its key opened with -store-key-file, instead of from -data")
	flag.StringVar(&o.storeKeyFile, "store-key-file", "", "with -store: the `FILE` of the store key the helens were given")
	flag.StringVar(&o.prefix, "prefix", "load-", "agent names are `PREFIX`0001 and on")
	flag.StringVar(&o.version, "version", "0.0.0-dev", "the version the agents say in hello")
	flag.DurationVar(&o.every, "every", 10*time.Second, "the schedule's interval, for the histogram")
	flag.DurationVar(&o.duration, "for", 70*time.Second, "how long to run once connected")
	flag.DurationVar(&o.warmup, "warmup", 10*time.Second, "leave the checks of the first `DURATION` out of the figures")
	flag.IntVar(&o.buckets, "buckets", 10, "bars in the histogram")
	flag.IntVar(&o.dialers, "dialers", 32, "connections opened at once")
	flag.IntVar(&o.idle, "idle", 0, "instead of agents, hold `N` idle HTTPS connections without a client certificate (one GET /healthz each)")
	flag.StringVar(&o.sources, "sources", "", "with -idle: spread the connections over the source addresses of this loopback `PREFIX` (e.g. 127.1.0.0/16)")
	flag.DurationVar(&o.refresh, "refresh", 0, "with -idle: send GET /healthz again every `DURATION` on each connection (0: never)")
	flag.BoolVar(&o.probe, "probe", false, "with -idle: then connect one agent and print how long it took to get its first check")
	flag.BoolVar(&o.reconnect, "reconnect", false, "agents that reconnect as equus does when their connection ends; prints how long each round of losses (a restart of helen) took to be all back")
	flag.DurationVar(&o.restartWindow, "restart-window", backoff.RestartWindow, "with -reconnect: how long agents retry every 0.25-1 s after helen's shutting_down or a broken session, as equus does (0: back off as after any error, as equus did before)")
	flag.BoolVar(&o.resume, "resume", true, "with -reconnect: keep a TLS session cache and resume sessions, as equus does")
	flag.StringVar(&o.run, "run", "", "instead of agents, run `CHECK` on -agent through helen's admin socket, as helen run does, and print the rate and latencies")
	flag.StringVar(&o.agent, "agent", "", "with -run and -shell: the `AGENT` to run the check or open the sessions on (a real agent, connected)")
	flag.StringVar(&o.args, "args", "{}", "with -run: the check's args, a JSON `OBJECT`")
	flag.IntVar(&o.inflight, "inflight", 64, "with -run: requests in flight at once")
	flag.IntVar(&o.batch, "batch", 1, "with -run: runs a request, through POST /v1/agents/AGENT/runs when more than 1 (at most 1000)")
	flag.StringVar(&o.shell, "shell", "", "instead of agents, measure shell sessions on -agent through helen's admin socket: `MODE` echo (keystroke round trip), throughput (one session's output rate) or idle (hold -sessions idle sessions for -for)")
	flag.IntVar(&o.keys, "keys", 1000, "with -shell echo: keys to type, one at a time")
	flag.Int64Var(&o.bytes, "bytes", 100<<20, "with -shell throughput: bytes of output (head -c N /dev/zero)")
	flag.IntVar(&o.sessions, "sessions", 10, "with -shell idle: sessions to hold open")
	flag.StringVar(&o.source, "source", "zero", "with -shell throughput: the output, `zero` (head -c N /dev/zero) or yes (the first N bytes of yes)")
	flag.BoolVar(&o.tty, "tty", false, "with -shell throughput: run the command with a terminal (default: pipes)")
	flag.StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile of equus-load from start to end to `FILE` (for go tool pprof), to see what the load itself costs")
	flag.StringVar(&o.fsync, "fsync", "", "instead of helen, measure the latency of write+fdatasync on the filesystem of `DIR` (no -data needed)")
	flag.IntVar(&o.writes, "writes", 2000, "with -fsync: operations to measure (1 to 1000000)")
	flag.IntVar(&o.syncs, "syncs", 2, "with -fsync: write+fdatasync pairs an operation (1 to 16; a bolt commit does two)")
	flag.Parse()
	if o.fsync != "" {
		if o.writes < 1 || o.writes > 1000000 || o.syncs < 1 || o.syncs > 16 {
			return errors.New("-fsync takes -writes 1 to 1000000 and -syncs 1 to 16")
		}
		return runFsync(os.Stdout, o.fsync, o.writes, o.syncs)
	}
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if o.data == "" && (o.store == "" || o.shell != "" || o.run != "") {
		return errors.New("give -data DIR, helen's data directory (or, for agents, -store URL and -store-key-file FILE)")
	}
	if (o.store == "") != (o.storeKeyFile == "") {
		return errors.New("-store and -store-key-file go together")
	}
	o.helens = strings.Split(o.helen, ",")
	for _, h := range o.helens {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return fmt.Errorf("-helen %q: %w", h, err)
		}
	}
	if o.shell != "" {
		if o.agent == "" || o.keys < 1 || o.keys > 1000000 || o.bytes < 1 || o.bytes > 1e12 || o.sessions < 1 || o.sessions > 1000 || (o.source != "zero" && o.source != "yes") {
			return errShellFlags
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		return runShell(ctx, o)
	}
	if o.n < 1 || o.n > 100000 || o.offset < 0 || o.offset > 1000000 || o.buckets < 1 || o.every <= 0 || o.dialers < 1 || o.idle < 0 || o.idle > 100000 {
		return errors.New("bad -n, -offset, -idle, -buckets, -every or -dialers")
	}
	if o.run != "" {
		if o.agent == "" || o.inflight < 1 || o.inflight > 10000 || o.batch < 1 || o.batch > 1000 || !json.Valid([]byte(o.args)) {
			return errors.New("-run takes -agent NAME, -inflight 1 to 10000, -batch 1 to 1000 and -args a JSON object")
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		return runAPI(ctx, o)
	}
	ca, err := loadCA(o)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if o.idle > 0 {
		if len(o.helens) > 1 {
			return errors.New("-idle takes one -helen")
		}
		return runIdle(ctx, o, ca)
	}
	if o.reconnect {
		return runReconnect(ctx, o, ca)
	}

	st := &stats{buckets: make([]atomic.Int64, o.buckets), every: o.every}
	conns, err := connectAll(ctx, o, ca)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return err
	}
	fmt.Printf("%d agents connected to %s\n", len(conns), strings.Join(o.helens, ", "))
	start := time.Now()
	st.from = start.Add(o.warmup)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); serve(c, o.version, st) }()
	}
	select {
	case <-ctx.Done():
	case <-time.After(o.duration):
	}
	st.to = time.Now()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	st.report(os.Stdout)
	return nil
}

// loadCA returns helen's CA: from the shared store with -store, its key
// opened with the store key as the store's helens do; else from helen's
// data directory.
func loadCA(o options) (*pki.CA, error) {
	if o.store == "" {
		if _, err := os.Stat(filepath.Join(o.data, "ca.pem")); err != nil {
			return nil, fmt.Errorf("no helen CA in %s: %w", o.data, err)
		}
		return pki.LoadOrCreateCA(o.data)
	}
	b, err := os.ReadFile(o.storeKeyFile)
	if err != nil {
		return nil, fmt.Errorf("-store-key-file: %w", err)
	}
	key, err := server.ParseStoreKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("-store-key-file %s: %w", o.storeKeyFile, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := pgstore.Open(ctx, o.store, pgstore.Options{Helen: "equus-load", PruneInterval: -1})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ca, err := server.StoreCA(ctx, st, key)
	if err != nil {
		return nil, fmt.Errorf("-store %s: %w", pgstore.Redact(o.store), err)
	}
	return ca, nil
}

// agentName is the name of agent i (from 0) of this process.
func agentName(o options, i int) string { return fmt.Sprintf("%s%04d", o.prefix, o.offset+i+1) }

// startCPUProfile starts profiling the process into path, and returns
// what stops it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpu-profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// connectAll issues a certificate for every agent and connects them, a
// few at a time.
func connectAll(ctx context.Context, o options, ca *pki.CA) ([]*tls.Conn, error) {
	conns := make([]*tls.Conn, o.n)
	errs := make(chan error, o.n)
	sem := make(chan struct{}, o.dialers)
	var wg sync.WaitGroup
	for i := range o.n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := connect(ctx, ca, o.helens[(o.offset+i)%len(o.helens)], agentName(o, i))
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	var got []*tls.Conn
	for _, c := range conns {
		if c != nil {
			got = append(got, c)
		}
	}
	if err := <-errs; err != nil {
		return got, err
	}
	return got, nil
}

// connect connects agent name to the helen at addr.
func connect(ctx context.Context, ca *pki.CA, addr, name string) (*tls.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssueClient(name, time.Now())
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", name, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	cfg, err := pki.ClientConfig(pki.Trust{CA: ca.Cert}, host, &cert, []string{wire.ALPN})
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", name, err)
	}
	return c.(*tls.Conn), nil
}

// serve says hello and answers every check at once until the connection
// ends. The answers to the checks of one read go out in one write, as
// equus's writer sends what is queued: the load's own CPU counts against
// the machine, and a write per check would be most of it.
func serve(c *tls.Conn, version string, st *stats) {
	w := wire.NewWriter(c)
	if w.Write(wire.Hello(version)) != nil || w.Flush() != nil {
		return
	}
	// wire.NewReader reads through br as it is (big enough), so that
	// br.Buffered says whether more of what came in is still to read.
	br := bufio.NewReaderSize(c, wire.MaxLine)
	r := wire.NewReader(br)
	doc := result.Doc{Status: result.OK, Message: "ok", Metrics: []result.Metric{{Name: "value", Value: 1}}, DurationMS: 0.01}
	blob := doc.Encode(wire.MaxBlob)
	for {
		m, err := r.Read()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				st.errors.Add(1)
			}
			return
		}
		switch m.Kind {
		case wire.KindCheck:
			if !strings.HasPrefix(m.Name, "equus.") {
				st.add(time.Now())
			}
			if w.Write(wire.Result(m.ID, m.Name, blob)) != nil {
				return
			}
			if br.Buffered() == 0 && w.Flush() != nil {
				return
			}
		case wire.KindReload, wire.KindError:
			st.refused.Add(1)
			return
		}
	}
}

// stats counts the checks received after the warmup, by their time within
// the interval and by second.
type stats struct {
	every    time.Duration
	from, to time.Time
	buckets  []atomic.Int64
	total    atomic.Int64
	errors   atomic.Int64
	refused  atomic.Int64

	mu        sync.Mutex
	perSecond map[int64]int
}

func (s *stats) add(t time.Time) {
	if t.Before(s.from) {
		return
	}
	s.total.Add(1)
	in := time.Duration(t.UnixNano() % int64(s.every))
	s.buckets[int(in*time.Duration(len(s.buckets))/s.every)].Add(1)
	s.mu.Lock()
	if s.perSecond == nil {
		s.perSecond = map[int64]int{}
	}
	s.perSecond[t.Unix()]++
	s.mu.Unlock()
}

func (s *stats) report(w io.Writer) {
	secs := s.to.Sub(s.from).Seconds()
	total := s.total.Load()
	fmt.Fprintf(w, "checks: %d in %.1f s after the warmup = %.1f/s; connection errors %d, refused %d\n",
		total, secs, float64(total)/secs, s.errors.Load(), s.refused.Load())
	fmt.Fprintf(w, "time of the checks within the %s interval:\n", s.every)
	width := s.every / time.Duration(len(s.buckets))
	most := int64(1)
	for i := range s.buckets {
		most = max(most, s.buckets[i].Load())
	}
	for i := range s.buckets {
		n := s.buckets[i].Load()
		fmt.Fprintf(w, "  %6s-%-6s %6d %s\n", width*time.Duration(i), width*time.Duration(i+1), n, strings.Repeat("#", int(50*n/most)))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lo, hi, n := 1<<31, 0, 0
	first, last := s.from.Unix()+1, s.to.Unix()-1 // whole seconds only
	for sec := first; sec <= last; sec++ {
		c := s.perSecond[sec]
		lo, hi, n = min(lo, c), max(hi, c), n+1
	}
	if n > 0 {
		fmt.Fprintf(w, "checks per whole second over %d s: min %d, max %d\n", n, lo, hi)
	}
}
