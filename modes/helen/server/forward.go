package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// Forwarding: a helen of a shared store asked to run a check on an agent,
// reload it or open a shell on it, which holds no session of that agent,
// asks the helen that does (its claim, state.Cluster.Owner) on that
// helen's peer listener (peer.go), over mutual TLS with the peer
// certificates of the shared CA. Runs and reloads go over one HTTP/2
// connection to each peer, kept; a shell session over a connection of its
// own, upgraded as on the admin socket, its bytes copied both ways (the
// helen holding the agent records it). The helen asked never forwards
// again.

// Bounds of forwarding.
const (
	// MaxForwarded bounds the runs and reloads this helen has forwarded
	// to others and not had the answer of; more wait for one to end
	// (their callers' own bounds, connections and timeouts, bound the
	// wait).
	MaxForwarded = 512
	// maxPeerClients bounds the helens this one keeps a connection to.
	maxPeerClients = 64
	// maxRunAnswer bounds the answer of one forwarded run: a result of a
	// blob of wire.MaxBlob, in JSON.
	maxRunAnswer = 16 << 20
	// maxPeerError bounds the body of a peer's refusal.
	maxPeerError = 64 << 10
	// peerDialTimeout bounds a connection to a peer and its handshake.
	peerDialTimeout = 5 * time.Second
	// peerPingAfter is how long a kept connection to a peer may be
	// silent before it is pinged, and peerPingTimeout how long the ping
	// may go unanswered before the connection is closed.
	peerPingAfter   = 10 * time.Second
	peerPingTimeout = 5 * time.Second
	// peerRunMargin is how long past a run's own timeout a forwarded run
	// waits for the peer's answer.
	peerRunMargin = 10 * time.Second
	// peerCallTimeout bounds a forwarded reload, and a forwarded shell's
	// request until its upgrade.
	peerCallTimeout = time.Minute
	// helensFresh is how long the list of helens (state.Cluster.Helens)
	// is used before it is read again: their addresses rarely change.
	helensFresh = time.Second
	// directoryTimeout bounds the store's answer of who holds an agent.
	directoryTimeout = 5 * time.Second
)

// errNoHolder is an agent whose session no live helen other than this
// one holds.
var errNoHolder = errors.New("no live helen holds the agent")

// directory says which helen holds an agent's session, and where it is
// reached.
type directory interface {
	// holder returns the live helen, other than this one, that holds
	// agent's session; errNoHolder when there is none.
	holder(ctx context.Context, agent string) (state.Helen, error)
}

// clusterDirectory is the directory of a shared store: the agent's claim,
// and the helen of the claim with its address and heartbeat.
type clusterDirectory struct {
	store state.Cluster
	self  string
	now   func() time.Time

	mu      sync.Mutex
	helens  map[string]state.Helen
	fetched time.Time
}

func (d *clusterDirectory) holder(ctx context.Context, agent string) (state.Helen, error) {
	ctx, cancel := context.WithTimeout(ctx, directoryTimeout)
	defer cancel()
	c, err := d.store.Owner(ctx, agent)
	switch {
	case errors.Is(err, state.ErrNotFound):
		return state.Helen{}, errNoHolder
	case err != nil:
		return state.Helen{}, fmt.Errorf("who holds %s: %w", agent, err)
	case !c.Held || c.Helen == d.self:
		return state.Helen{}, errNoHolder
	}
	h, ok, err := d.helen(ctx, c.Helen, false)
	if err == nil && (!ok || !d.alive(h) || h.Addr == "") {
		// A helen just started, or just beat: the list may be old.
		h, ok, err = d.helen(ctx, c.Helen, true)
	}
	switch {
	case err != nil:
		return state.Helen{}, fmt.Errorf("who holds %s: %w", agent, err)
	case !ok || !d.alive(h) || h.Addr == "":
		return state.Helen{}, errNoHolder
	}
	return h, nil
}

func (d *clusterDirectory) alive(h state.Helen) bool { return d.now().Sub(h.Beat) < HelenDead }

// helen returns the helen id from the list, read anew when fresh or when
// it is older than helensFresh.
func (d *clusterDirectory) helen(ctx context.Context, id string, fresh bool) (state.Helen, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fresh || d.helens == nil || d.now().Sub(d.fetched) >= helensFresh {
		hs, err := d.store.Helens(ctx)
		if err != nil {
			return state.Helen{}, false, err
		}
		d.helens = make(map[string]state.Helen, len(hs))
		for _, h := range hs {
			d.helens[h.ID] = h
		}
		d.fetched = d.now()
	}
	h, ok := d.helens[id]
	return h, ok, nil
}

// peers is this helen's side of the calls to the others.
type peers struct {
	self  string
	dir   directory
	ca    *pki.CA
	cert  tls.Certificate // this helen's peer certificate
	slots chan struct{}   // of the forwarded calls in flight
	// ctx ends every call in flight at shutdown (close).
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	clients map[string]*http.Client // by helen ID and address
	shells  map[*forwardedShell]struct{}
	closed  bool
}

func newPeers(self string, dir directory, ca *pki.CA, cert tls.Certificate) *peers {
	ctx, cancel := context.WithCancel(context.Background())
	return &peers{self: self, dir: dir, ca: ca, cert: cert, slots: make(chan struct{}, MaxForwarded), ctx: ctx, cancel: cancel,
		clients: map[string]*http.Client{}, shells: map[*forwardedShell]struct{}{}}
}

// bound returns ctx bounded by d, and ended by close.
func (p *peers) bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, d)
	stop := context.AfterFunc(p.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// client returns the HTTP/2 client of helen h, kept for the next calls.
func (p *peers) client(h state.Helen) *http.Client {
	key := h.ID + " " + h.Addr
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c
	}
	for k, c := range p.clients {
		// One client a helen (its address changed), and at most
		// maxPeerClients.
		if len(p.clients) >= maxPeerClients || strings.HasPrefix(k, h.ID+" ") {
			c.CloseIdleConnections()
			delete(p.clients, k)
		}
	}
	tr := &http.Transport{
		TLSClientConfig:     pki.PeerClientConfig(p.ca, p.cert, h.ID, []string{"h2"}),
		ForceAttemptHTTP2:   true,
		DialContext:         (&net.Dialer{Timeout: peerDialTimeout}).DialContext,
		TLSHandshakeTimeout: peerDialTimeout,
		IdleConnTimeout:     defaultHTTPIdleTimeout,
		MaxIdleConnsPerHost: 4,
		// A peer whose host is gone sends no FIN: the pings find out,
		// rather than every call on the connection waiting out its
		// timeout.
		HTTP2: &http.HTTP2Config{SendPingTimeout: peerPingAfter, PingTimeout: peerPingTimeout},
	}
	c := &http.Client{Transport: tr}
	p.clients[key] = c
	return c
}

// acquire takes a slot of the forwarded calls, waiting for one until ctx
// ends.
func (p *peers) acquire(ctx context.Context) (release func(), err error) {
	select {
	case p.slots <- struct{}{}:
		return func() { <-p.slots }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("helen: %d calls forwarded to other helens in flight, the most at once: %w", MaxForwarded, ctx.Err())
	}
}

// call posts body as JSON (nil: no body) to the endpoint verb of agent on
// helen h and returns its answer, or its refusal as a *peerError. The
// caller closes the answer.
func (p *peers) call(ctx context.Context, h state.Helen, agent, verb string, body any) (io.ReadCloser, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+h.Addr+agentPath(agent, verb), rd)
	if err != nil {
		return nil, fmt.Errorf("helen %s at %s: %w", h.ID, h.Addr, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client(h).Do(req)
	if err != nil {
		return nil, unreachable(h, agent, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, refusalOf(h, resp)
	}
	return resp.Body, nil
}

// unreachable is the error of a call to helen h, which holds agent's
// session, that did not get its answer: the agent is out of reach, as one
// not connected is.
func unreachable(h state.Helen, agent string, err error) error {
	return fmt.Errorf("%w: %s (helen %s at %s, which holds its session, did not answer: %v)", ErrNotConnected, agent, h.ID, h.Addr, err)
}

// peerError is a peer's refusal: its status and its words, which are the
// API's own (the same handlers), passed on as they are.
type peerError struct {
	status int
	msg    string
}

func (e *peerError) Error() string { return e.msg }

// Is makes the refusal the error the peer's status says, so that this
// helen answers with the status the peer did.
func (e *peerError) Is(target error) bool {
	switch e.status {
	case http.StatusNotFound:
		return target == web.ErrNotConnected
	case http.StatusConflict:
		return target == web.ErrNoShell
	case http.StatusInternalServerError:
		return target == web.ErrNoRecording
	}
	return false
}

func refusalOf(h state.Helen, resp *http.Response) error {
	var e struct{ Error string }
	if json.NewDecoder(io.LimitReader(resp.Body, maxPeerError)).Decode(&e) != nil || e.Error == "" {
		e.Error = fmt.Sprintf("helen %s at %s: %s", h.ID, h.Addr, resp.Status)
	}
	return &peerError{status: resp.StatusCode, msg: e.Error}
}

// run runs check on agent through helen h.
func (p *peers) run(ctx context.Context, h state.Helen, agent, check string, args []byte, timeout time.Duration) (result.Doc, error) {
	release, err := p.acquire(ctx)
	if err != nil {
		return result.Doc{}, err
	}
	defer release()
	ctx, cancel := p.bound(ctx, max(timeout, 30*time.Second)+peerRunMargin)
	defer cancel()
	body, err := p.call(ctx, h, agent, "run", web.RunRequest{Check: check, Args: args, Timeout: web.Duration(timeout)})
	if err != nil {
		return result.Doc{}, err
	}
	defer body.Close()
	var doc result.Doc
	if err := json.NewDecoder(io.LimitReader(body, maxRunAnswer)).Decode(&doc); err != nil {
		return result.Doc{}, fmt.Errorf("helen %s's answer: %w", h.ID, err)
	}
	return doc, nil
}

// runs sends a batch of runs to helen h, whose answer is passed on as it
// comes; the slot is held until it is closed.
func (p *peers) runs(ctx context.Context, h state.Helen, agent string, runs []web.RunRequest) (io.ReadCloser, error) {
	release, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	longest := 30 * time.Second
	for _, r := range runs {
		longest = max(longest, time.Duration(r.Timeout))
	}
	ctx, cancel := p.bound(ctx, longest+peerRunMargin)
	body, err := p.call(ctx, h, agent, "runs", web.RunsRequest{Runs: runs})
	if err != nil {
		cancel()
		release()
		return nil, err
	}
	return &releasing{ReadCloser: body, release: func() { cancel(); release() }}, nil
}

// releasing is an answer that releases what its call held once closed.
type releasing struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (r *releasing) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.release)
	return err
}

// reload asks helen h to reload agent.
func (p *peers) reload(ctx context.Context, h state.Helen, agent string) error {
	release, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := p.bound(ctx, peerCallTimeout)
	defer cancel()
	body, err := p.call(ctx, h, agent, "reload", nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(body, maxPeerError))
	return body.Close()
}

func agentPath(agent, verb string) string { return "/v1/agents/" + url.PathEscape(agent) + "/" + verb }

// openShell opens a shell session on agent through helen h: the request of
// the admin socket's, on a connection of its own, upgraded.
func (p *peers) openShell(ctx context.Context, h state.Helen, agent string, req web.ShellRequest) (*forwardedShell, error) {
	ctx, cancel := p.bound(ctx, peerCallTimeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: peerDialTimeout}, Config: pki.PeerClientConfig(p.ca, p.cert, h.ID, []string{"http/1.1"})}
	c, err := d.DialContext(ctx, "tcp", h.Addr)
	if err != nil {
		return nil, unreachable(h, agent, err)
	}
	// Until the upgrade, ctx bounds the exchange.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	body, err := json.Marshal(req)
	if err != nil {
		c.Close()
		return nil, err
	}
	hr, err := http.NewRequest(http.MethodPost, "https://"+h.Addr+agentPath(agent, "shell"), bytes.NewReader(body))
	if err != nil {
		c.Close()
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Connection", "Upgrade")
	hr.Header.Set("Upgrade", web.ShellALPN)
	if err := hr.Write(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("helen %s: %w", h.ID, err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, hr)
	if err != nil {
		c.Close()
		return nil, unreachable(h, agent, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer c.Close()
		return nil, refusalOf(h, resp)
	}
	if !stop() {
		c.Close()
		return nil, fmt.Errorf("helen %s: %w", h.ID, ctx.Err())
	}
	c.SetDeadline(time.Time{})
	sh := &forwardedShell{p: p, conn: c.(*tls.Conn), br: br, id: resp.Header.Get("Equus-Session")}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return nil, errors.New("helen: shutting down")
	}
	p.shells[sh] = struct{}{}
	return sh, nil
}

// close ends the calls in flight and the forwarded shell sessions, and
// drops the kept connections: at shutdown.
func (p *peers) close() {
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for sh := range p.shells {
		sh.conn.Close()
	}
	for k, c := range p.clients {
		c.CloseIdleConnections()
		delete(p.clients, k)
	}
}

// forwardedShell is a shell session another helen holds, relayed: the
// frames are that helen's business (it checks and records them), this
// one copies bytes.
type forwardedShell struct {
	p    *peers
	conn *tls.Conn
	br   *bufio.Reader // conn's, holding what came after the upgrade
	id   string
	done func() // releases what the session holds here; set by the opener
	once sync.Once
}

func (sh *forwardedShell) ID() string { return sh.id }

func (sh *forwardedShell) Abort(string) {
	sh.conn.Close()
	sh.end()
}

// Relay copies the operator's bytes to the peer and the peer's back until
// the peer ends the session (after its exit frame) or either side breaks.
func (sh *forwardedShell) Relay(c net.Conn, br *bufio.Reader) {
	defer sh.end()
	defer c.Close()
	in := make(chan struct{})
	go func() {
		defer close(in)
		io.Copy(sh.conn, br)
		sh.conn.CloseWrite()
	}()
	io.Copy(c, sh.br)
	sh.conn.Close()
	// What the operator still sends is read for a moment, so that the
	// close does not reset the connection under the exit frame.
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	<-in
}

func (sh *forwardedShell) end() {
	sh.once.Do(func() {
		sh.p.mu.Lock()
		delete(sh.p.shells, sh)
		sh.p.mu.Unlock()
		if sh.done != nil {
			sh.done()
		}
	})
}
