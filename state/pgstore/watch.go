package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"

	"github.com/equus-monitoring/equus/state"
)

// changesChannel is the NOTIFY channel of the changes helens must act on
// at once (state.Change). A notification's payload is the change's kind
// ("schedules", "silences"...), or for a claim a JSON object of the kind
// and the claim: {"kind":"claim","agent":...,"helen":...,"epoch":...,
// "held":...,"at":...}.
const changesChannel = "equus_changes"

// The bounds of a Watch.
const (
	// WatchQueue is the most changes a Watch keeps for a watcher that
	// does not take them; past it they are dropped for one Change of kind
	// "resync".
	WatchQueue = 1024
	// WatchReconnect is the wait before a Watch connects again after it
	// lost its connection; it delivers a "resync" once it is back, for
	// what was told while it was away.
	WatchReconnect = time.Second
)

// Watch listens on changesChannel on a connection of its own (LISTEN holds
// its connection: one from the pool would be taken from it for as long as
// the Watch lasts), reconnecting when it is lost. It returns once it
// listens, so that every change committed after it returns is delivered,
// or an error if it cannot listen within Options.ConnectTimeout. The
// channel is closed when ctx ends, which must happen before Close.
func (s *Store) Watch(ctx context.Context) (<-chan state.Change, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watch{
		out:   make(chan state.Change),
		wake:  make(chan struct{}, 1),
		ready: make(chan struct{}),
	}
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "equus-watch"
	l := &pgxlisten.Listener{
		Connect:        func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg) },
		LogError:       w.logError,
		ReconnectDelay: WatchReconnect,
	}
	l.Handle(changesChannel, w)
	if watchStarted != nil {
		watchStarted(w)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		l.Listen(ctx)
	}()
	go func() {
		defer wg.Done()
		w.deliver(ctx)
	}()
	go func() {
		wg.Wait()
		cancel()
		close(w.out)
	}()
	timer := time.NewTimer(s.opt.ConnectTimeout)
	defer timer.Stop()
	select {
	case <-w.ready:
		return w.out, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	cancel()
	for range w.out {
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = ctx.Err()
	}
	return nil, fmt.Errorf("watch: %w", w.err)
}

// watchStarted, when set (by a test), is given each watch as it starts.
var watchStarted func(*watch)

// watch is one Watch: what the listener received, queued for the
// watcher, who takes it at its pace from out.
type watch struct {
	out  chan state.Change
	wake chan struct{} // a change was queued

	mu        sync.Mutex
	queue     []state.Change
	resync    bool  // changes were lost: a resync goes before the queue
	listening bool  // the first LISTEN was done
	err       error // the last error of the listener, for Watch's
	ready     chan struct{}
}

// HandleBacklog is called by the listener at each connection once it
// listens: the first makes Watch return; each after it follows a lost
// connection, across which notifications were lost.
func (w *watch) HandleBacklog(ctx context.Context, channel string, conn *pgx.Conn) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.listening {
		w.listening = true
		close(w.ready)
		return nil
	}
	w.lost()
	return nil
}

// HandleNotification queues the change a notification tells. It never
// waits for the watcher: the listener must go on reading its connection.
func (w *watch) HandleNotification(ctx context.Context, n *pgconn.Notification, conn *pgx.Conn) error {
	c, err := parseChange(n.Payload)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) >= WatchQueue {
		w.lost()
		return nil
	}
	w.queue = append(w.queue, c)
	w.signal()
	return nil
}

// lost drops what is queued for one resync; w.mu is held.
func (w *watch) lost() {
	w.queue = nil
	w.resync = true
	w.signal()
}

func (w *watch) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watch) logError(ctx context.Context, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
}

// deliver hands the queued changes to the watcher, a resync first if
// changes were lost, until ctx ends.
func (w *watch) deliver(ctx context.Context) {
	for {
		c, ok := w.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			}
			continue
		}
		select {
		case w.out <- c:
		case <-ctx.Done():
			return
		}
	}
}

// next takes the change to deliver next, if there is one.
func (w *watch) next() (state.Change, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.resync:
		w.resync = false
		return state.Change{Kind: "resync"}, true
	case len(w.queue) > 0:
		c := w.queue[0]
		w.queue = w.queue[1:]
		return c, true
	}
	return state.Change{}, false
}

// parseChange reads a notification's payload (changesChannel).
func parseChange(payload string) (state.Change, error) {
	if !strings.HasPrefix(payload, "{") {
		if payload == "" {
			return state.Change{}, fmt.Errorf("watch: notification without a kind")
		}
		return state.Change{Kind: payload}, nil
	}
	var p struct {
		Kind string `json:"kind"`
		state.Claim
	}
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return state.Change{}, fmt.Errorf("watch: notification %.100q: %w", payload, err)
	}
	if p.Kind == "" {
		return state.Change{}, fmt.Errorf("watch: notification %.100q without a kind", payload)
	}
	p.Claim.At = p.Claim.At.UTC()
	return state.Change{Kind: p.Kind, Claim: p.Claim}, nil
}
