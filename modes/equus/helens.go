package equus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"
)

// An agent may know several helens (--helen given more than once, or a
// name that resolves to several addresses): it dials one at random, and
// when that one is gone (the dial fails, the session ends) the next, each
// once before its backoff grows (rotation). A helen at its bound of
// sessions sends it elsewhere (error try_elsewhere), naming other helens
// perhaps, and the agent dials another at once, jittered.

// MaxHelens bounds the helens' addresses an agent knows: the --helen
// values, the addresses of a round once names are resolved, and those
// the helens sent it to in a round.
const MaxHelens = 16

// lookupTimeout bounds the resolution of the names of a round.
const lookupTimeout = 10 * time.Second

// elsewhereJitter bounds the wait before the helen after one that sent
// the agent elsewhere: drawn uniformly from [0, elsewhereJitter], so that
// the agents a full helen turns away do not all come at once.
const elsewhereJitter = time.Second

// helenAddr is an address of a helen's agents' port: the one to dial,
// and the name its certificate shows, the host the operator gave, when
// the address was resolved from it ("" for the dial address's own host).
type helenAddr struct {
	dial       string
	serverName string
}

func (h helenAddr) String() string {
	if h.serverName == "" {
		return h.dial
	}
	return h.serverName + "(" + h.dial + ")"
}

// checkHelens reports what is wrong with the --helen values: each
// HOST:PORT, at most MaxHelens. It returns their hosts.
func checkHelens(helens []string) ([]string, error) {
	if len(helens) > MaxHelens {
		return nil, fmt.Errorf("--helen: %d addresses, at most %d", len(helens), MaxHelens)
	}
	hosts := make([]string, 0, len(helens))
	for _, h := range helens {
		host, err := checkHelen(h)
		if err != nil {
			return nil, fmt.Errorf("--helen %q: %w", h, err)
		}
		hosts = append(hosts, host)
	}
	return hosts, nil
}

// checkHelen reports whether addr is HOST:PORT, and returns its host.
func checkHelen(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "", fmt.Errorf("want HOST:PORT")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return host, nil
}

// rotation is the order in which the agent dials its helens. A round
// holds every address, names resolved, in a random order; the agent
// dials them in turn, and backs off further only once the round is over
// (every address tried since the last session a helen accepted, or since
// the last round). A round begins with another address than the last one
// dialed where there is another. It is not safe for concurrent use: the
// loop of sessions owns it.
type rotation struct {
	names   []string
	lookup  func(ctx context.Context, host string) ([]string, error)
	shuffle func(n int, swap func(i, j int)) // rand.Shuffle; tests keep the order

	cur    helenAddr   // the address of the last attempt
	left   []helenAddr // the round's addresses not tried yet
	tried  []helenAddr // the round's addresses tried
	hinted int         // the addresses the helens sent the agent to in the round
	stay   bool        // the next attempt is cur's again
}

func newRotation(names []string) *rotation {
	return &rotation{names: slices.Clone(names), lookup: net.DefaultResolver.LookupHost, shuffle: rand.Shuffle}
}

// next returns the address to dial now.
func (r *rotation) next(ctx context.Context) helenAddr {
	if r.stay {
		r.stay = false
		return r.cur
	}
	if len(r.left) == 0 {
		r.begin(ctx)
	}
	r.cur, r.left = r.left[0], r.left[1:]
	r.tried = append(r.tried, r.cur)
	return r.cur
}

// over reports whether the round is over: every address tried.
func (r *rotation) over() bool { return !r.stay && len(r.left) == 0 }

// accepted records that a helen accepted the session with cur: the
// next attempt begins a new round.
func (r *rotation) accepted() {
	r.left, r.tried, r.hinted = nil, nil, 0
}

// again makes the next attempt cur's again: the session ended for a
// reason of the agent's own (a reload, a renewal), not helen's.
func (r *rotation) again() { r.stay = true }

// elsewhere records that cur sent the agent elsewhere, naming addrs:
// those not tried in this round are tried next, in a random order, up to
// MaxHelens in a round. Helens refer to each other by the names their
// certificates show, so an address is dialed as it is.
func (r *rotation) elsewhere(addrs []string) {
	var hints []helenAddr
	for _, a := range addrs {
		h := helenAddr{dial: a}
		if _, err := checkHelen(a); err != nil || r.hinted >= MaxHelens || slices.Contains(r.tried, h) || slices.Contains(hints, h) {
			continue
		}
		r.hinted++
		hints = append(hints, h)
	}
	r.shuffle(len(hints), func(i, j int) { hints[i], hints[j] = hints[j], hints[i] })
	r.left = append(hints, slices.DeleteFunc(r.left, func(h helenAddr) bool { return slices.Contains(hints, h) })...)
}

// begin starts a round: every address of the names, resolved now (so a
// name's addresses may change), in a random order, the last one dialed
// put last.
func (r *rotation) begin(ctx context.Context) {
	r.left = r.resolve(ctx)
	r.tried, r.hinted = nil, 0
	r.shuffle(len(r.left), func(i, j int) { r.left[i], r.left[j] = r.left[j], r.left[i] })
	if i := slices.Index(r.left, r.cur); i >= 0 && len(r.left) > 1 {
		r.left = append(slices.Delete(r.left, i, i+1), r.cur)
	}
}

// resolve returns the addresses of the names, at most MaxHelens: an IP
// address as it is, a host name's every address with the name to verify
// helen's certificate by. A name that does not resolve is kept as it is,
// so that its dial fails and says why.
func (r *rotation) resolve(ctx context.Context) []helenAddr {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var out []helenAddr
	add := func(h helenAddr) {
		if len(out) < MaxHelens && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	for _, name := range r.names {
		host, port, err := net.SplitHostPort(name)
		if err != nil || net.ParseIP(host) != nil {
			add(helenAddr{dial: name})
			continue
		}
		ips, err := r.lookup(ctx, host)
		if err != nil || len(ips) == 0 {
			add(helenAddr{dial: name})
			continue
		}
		for _, ip := range ips {
			add(helenAddr{dial: net.JoinHostPort(ip, port), serverName: host})
		}
	}
	return out
}

// elsewhereWait is the wait before the helen after one that sent the
// agent elsewhere.
func elsewhereWait() time.Duration { return rand.N(elsewhereJitter + 1) }
