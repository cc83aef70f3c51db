package monitor

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/internal/backoff"
	"github.com/equus-monitoring/equus/internal/metricset"
	"github.com/equus-monitoring/equus/modes/helen/monitor/notify"
	"github.com/equus-monitoring/equus/state"
)

// Delivery: a small pool of workers takes what the outbox has due
// (NextDue, which holds each group, agent, schedule, route and receiver,
// for one worker at a time, so each group goes out in order), builds the
// receiver from its route as stored, sends, and records the attempt (the
// attempts of all the workers grouped into one transaction, record): a
// failure that a retry may mend is tried again after a capped exponential
// backoff with full jitter, on the monitor's clock; one a retry would
// repeat (notify.ErrPermanent) is given up, which the store records as
// expired with its error. Open notifications older than MaxAge are
// recorded expired, never dropped. Nothing is in memory that a restart
// loses: the next start delivers what is still open.

// Bounds and times of delivery.
const (
	// DefaultWorkers is the number of delivery workers when
	// NotifyConfig.Workers is 0.
	DefaultWorkers = 4
	// DefaultNotifyMaxAge is how long a notification is tried before it
	// is recorded expired (--notify-max-age).
	DefaultNotifyMaxAge = 24 * time.Hour
	// retryMin and retryMax bound the backoff between attempts.
	retryMin = 5 * time.Second
	retryMax = 10 * time.Minute
	// deliverEvery is how often the workers look at the outbox when
	// nothing woke them: the retries fall due on the clock.
	deliverEvery = time.Second
	// expireEvery is how often open notifications past their age are
	// recorded expired.
	expireEvery = time.Minute
	// maxRecordBatch is the most attempts recorded in one transaction.
	maxRecordBatch = 256
)

// NotifyConfig configures delivery.
type NotifyConfig struct {
	// Workers is how many notifications are sent at once (0:
	// DefaultWorkers).
	Workers int
	// MaxAge is how long a notification is tried (0:
	// DefaultNotifyMaxAge).
	MaxAge time.Duration
	// RootCAs verify the HTTPS and SMTP receivers; nil is the system's.
	RootCAs *x509.CertPool
	// Jitter draws a retry's wait from its ceiling (nil:
	// backoff.FullJitter).
	Jitter func(time.Duration) time.Duration
}

// deliverer runs the delivery workers.
type deliverer struct {
	store   state.Store
	log     *slog.Logger
	clock   Clock
	cfg     NotifyConfig
	metrics *deliveryMetrics
	wake    chan struct{}

	mu        sync.Mutex
	receivers map[receiverKey]*builtReceiver
	// firing are the alerts an Alertmanager was told of that have not
	// ended yet, by route, receiver, agent and schedule: pushed again
	// every notify.ResendEvery with their end moved ahead, so that an
	// alert lasts as long as its problem (as Prometheus re-sends). Kept in
	// memory: after a restart an alert resolves itself at its end unless
	// its problem is told again.
	firing map[firingKey]notify.Notification
	// pushing orders the pushes of one alert: a worker's (problem,
	// recovery) and the re-push, each held across its push, so that a
	// re-push read before a recovery cannot land after it and fire the
	// alert again. Striped by the alert's key.
	pushing [64]sync.Mutex
}

// firingKey names an alert an Alertmanager receiver is told of.
type firingKey struct {
	route           string
	index           int
	agent, schedule string
}

// pushLock returns the lock that orders the pushes of the alert k.
func (d *deliverer) pushLock(k firingKey) *sync.Mutex {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00%s", k.route, k.index, k.agent, k.schedule)
	return &d.pushing[h.Sum32()%uint32(len(d.pushing))]
}

// receiverKey names a receiver of a route as it was when built: a route
// changed is a new key.
type receiverKey struct {
	route   string
	updated time.Time
	index   int
}

// builtReceiver is a receiver made from its specification: its template
// parsed once, its connections kept; secret the key it was built with.
type builtReceiver struct {
	kind   string
	secret string
	r      notify.Receiver
}

func newDeliverer(store state.Store, log *slog.Logger, clk Clock, cfg NotifyConfig, set *metricset.Set) *deliverer {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultNotifyMaxAge
	}
	if cfg.Jitter == nil {
		cfg.Jitter = backoff.FullJitter
	}
	return &deliverer{store: store, log: log, clock: clk, cfg: cfg, metrics: newDeliveryMetrics(set, store, clk.Now),
		wake: make(chan struct{}, 1), receivers: map[receiverKey]*builtReceiver{}, firing: map[firingKey]notify.Notification{}}
}

// poke wakes the workers: notifications were stored.
func (d *deliverer) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run delivers until ctx ends, and returns once no attempt is in flight
// and every attempt made is recorded.
func (d *deliverer) run(ctx context.Context) {
	jobs := make(chan state.Notification)
	records := make(chan state.AttemptRecord, maxRecordBatch)
	recorded := make(chan struct{})
	go func() { defer close(recorded); d.record(records) }()
	var wg sync.WaitGroup
	for range d.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range jobs {
				d.deliver(ctx, n, records)
			}
		}()
	}
	defer func() {
		close(jobs)
		wg.Wait()
		close(records)
		<-recorded
	}()
	tick := d.clock.NewTicker(deliverEvery)
	defer tick.Stop()
	lastExpire := d.clock.Now()
	lastRefresh := lastExpire
	d.expire(lastExpire)
	for {
		now := d.clock.Now()
		if now.Sub(lastExpire) >= expireEvery {
			lastExpire = now
			d.expire(now)
		}
		if now.Sub(lastRefresh) >= notify.ResendEvery {
			lastRefresh = now
			d.refresh(ctx)
		}
		due, err := d.store.NextDue(now, 4*d.cfg.Workers)
		if err != nil {
			d.log.Error("notifications due", "err", err)
		}
		for i, n := range due {
			select {
			case jobs <- n:
			case <-ctx.Done():
				for _, left := range due[i:] {
					d.store.Release(left.ID)
				}
				return
			}
		}
		if len(due) == 4*d.cfg.Workers {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-tick.C():
		}
	}
}

// expire records the notifications past their age as expired.
func (d *deliverer) expire(now time.Time) {
	n, err := d.store.Expire(now, d.cfg.MaxAge)
	if err != nil {
		d.log.Error("expire notifications", "err", err)
	}
	if n > 0 {
		d.metrics.results.With("any", "expired").Add(n)
		d.log.Info("notifications expired", "n", n, "max_age", d.cfg.MaxAge)
	}
}

// record records the attempts the workers made, those queued together
// in one transaction (at most maxRecordBatch), until records is closed
// and drained. So a worker goes on to its next delivery without waiting
// for the disk, and a commit is shared by as many deliveries as were
// made meanwhile. Each group stays held until its attempt is committed,
// so its next notification is not sent before it is recorded; a batch
// whose commit fails gives its claims back, to be sent again (at least
// once).
func (d *deliverer) record(records <-chan state.AttemptRecord) {
	batch := make([]state.AttemptRecord, 0, maxRecordBatch)
	for r := range records {
		batch = append(batch[:0], r)
	gather:
		for len(batch) < maxRecordBatch {
			select {
			case r, ok := <-records:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		err := d.store.RecordAttempts(batch...)
		switch {
		case errors.Is(err, state.ErrNotFound):
			d.log.Error("record attempts", "err", err) // the others are recorded
		case err != nil:
			d.log.Error("record attempts", "n", len(batch), "err", err)
			for _, r := range batch {
				d.store.Release(r.ID)
			}
		}
		d.poke() // the next of their groups may be due
	}
}

// deliver makes one attempt at n and hands it to the recorder.
func (d *deliverer) deliver(ctx context.Context, n state.Notification, records chan<- state.AttemptRecord) {
	kind, ans, err := d.send(ctx, n)
	if ctx.Err() != nil && err != nil {
		// Stopping: the attempt was cut short, not failed.
		d.store.Release(n.ID)
		return
	}
	now := d.clock.Now()
	a := state.Attempt{Time: now, Answer: ans}
	outcome, next, result := state.Delivered, time.Time{}, "delivered"
	switch {
	case err == nil:
	case errors.Is(err, notify.ErrPermanent) || errors.Is(err, notify.ErrInvalid):
		a.Error, outcome, result = err.Error(), state.GiveUp, "failed"
		d.log.Info("notification failed for good", "agent", n.Agent, "schedule", n.Schedule, "route", n.Route, "receiver", n.Receiver, "delivery", n.ID, "attempt", n.AttemptCount+1, "err", err)
	default:
		b := backoff.Exponential{Min: retryMin, Max: retryMax, Jitter: d.cfg.Jitter}
		var wait time.Duration
		for range n.AttemptCount + 1 {
			if wait = b.Next(); b.Ceiling() == retryMax {
				break
			}
		}
		a.Error, outcome, next, result = err.Error(), state.Retry, now.Add(wait), "retry"
		d.log.Info("notification failed", "agent", n.Agent, "schedule", n.Schedule, "route", n.Route, "receiver", n.Receiver, "delivery", n.ID, "attempt", n.AttemptCount+1, "retry_at", next, "err", err)
	}
	d.metrics.results.With(kind, result).Inc()
	records <- state.AttemptRecord{ID: n.ID, Attempt: a, Outcome: outcome, NextAt: next}
}

// send sends n to its receiver, and returns the receiver's kind.
func (d *deliverer) send(ctx context.Context, n state.Notification) (kind, answer string, err error) {
	var doc notify.Notification
	if err := json.Unmarshal(n.Doc, &doc); err != nil {
		return "unknown", "", fmt.Errorf("%w: document: %v", notify.ErrInvalid, err)
	}
	doc.Delivery, doc.Attempt = n.ID, n.AttemptCount+1
	rt, err := d.store.Route(n.Route)
	if err != nil {
		// A route removed: its notifications are tried until they
		// expire, should it come back.
		return "unknown", "", fmt.Errorf("route %s: %w", n.Route, err)
	}
	if n.Receiver >= len(rt.Receivers) {
		return "unknown", "", fmt.Errorf("route %s has no receiver %d now", n.Route, n.Receiver+1)
	}
	br, err := d.receiver(rt, n.Receiver)
	if err != nil {
		return rt.Receivers[n.Receiver].Kind, "", err
	}
	if _, ok := br.r.(*notify.Alertmanager); ok {
		k := firingKey{n.Route, n.Receiver, doc.Agent, doc.Schedule}
		l := d.pushLock(k)
		l.Lock()
		defer l.Unlock()
		answer, err = br.r.Send(ctx, doc)
		if err == nil {
			d.mu.Lock()
			if doc.Kind.Firing() {
				d.firing[k] = doc
			} else {
				delete(d.firing, k)
			}
			d.mu.Unlock()
		}
		return br.kind, answer, err
	}
	answer, err = br.r.Send(ctx, doc)
	return br.kind, answer, err
}

// refresh pushes again every alert still firing to its Alertmanager, with
// its end moved ahead. A failed push is logged; the next one, a minute
// later, tries again before the alert's end (notify.DefaultHold).
func (d *deliverer) refresh(ctx context.Context) {
	d.mu.Lock()
	alerts := make(map[firingKey]notify.Notification, len(d.firing))
	for k, n := range d.firing {
		alerts[k] = n
	}
	d.mu.Unlock()
	for k, n := range alerts {
		rt, err := d.store.Route(k.route)
		if err != nil || k.index >= len(rt.Receivers) {
			d.mu.Lock()
			delete(d.firing, k) // the route or its receiver is gone
			d.mu.Unlock()
			continue
		}
		br, err := d.receiver(rt, k.index)
		if err != nil {
			continue
		}
		am, ok := br.r.(*notify.Alertmanager)
		if !ok {
			continue
		}
		d.repush(ctx, am, k, n)
	}
}

// repush pushes the alert k again, as n, unless it ended or was told
// anew since refresh read it.
func (d *deliverer) repush(ctx context.Context, am *notify.Alertmanager, k firingKey, n notify.Notification) {
	l := d.pushLock(k)
	l.Lock()
	defer l.Unlock()
	d.mu.Lock()
	now, firing := d.firing[k]
	d.mu.Unlock()
	if !firing || now.ID != n.ID {
		return
	}
	if _, err := am.Refresh(ctx, n); err != nil && ctx.Err() == nil {
		d.log.Info("alertmanager re-push failed", "agent", k.agent, "schedule", k.schedule, "route", k.route, "err", err)
	}
}

// receiver returns the receiver i of rt, built once for the route as it
// is; a webhook's secret is read at every send, and a new one makes the
// receiver again.
func (d *deliverer) receiver(rt state.Route, i int) (*builtReceiver, error) {
	spec := rt.Receivers[i]
	secret := ""
	if spec.Webhook != nil && spec.Webhook.SecretFile != "" {
		b, err := os.ReadFile(spec.Webhook.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("webhook secret: %w", err)
		}
		// As notify.FromSpec reads it, so that a delivery signs with the
		// key `helen notify test` signs with.
		secret = strings.TrimRight(string(b), "\r\n")
	}
	key := receiverKey{rt.Name, rt.Updated, i}
	d.mu.Lock()
	defer d.mu.Unlock()
	if br := d.receivers[key]; br != nil && br.secret == secret {
		return br, nil
	}
	for k := range d.receivers {
		if k.route == rt.Name && k.updated != rt.Updated {
			delete(d.receivers, k)
		}
	}
	br := &builtReceiver{kind: spec.Kind, secret: secret}
	switch {
	case spec.Webhook != nil:
		w := &notify.Webhook{URL: spec.Webhook.URL, Timeout: spec.Webhook.Timeout, RootCAs: d.cfg.RootCAs}
		if secret != "" {
			w.Secret = []byte(secret)
		}
		if spec.Webhook.Template != "" {
			t, err := notify.ParseTemplate(rt.Name, spec.Webhook.Template)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", notify.ErrPermanent, err)
			}
			w.Template = t
		}
		br.r = w
	case spec.Alertmanager != nil:
		br.r = &notify.Alertmanager{URL: spec.Alertmanager.URL, RootCAs: d.cfg.RootCAs, Now: d.clock.Now}
	case spec.Email != nil:
		e := spec.Email
		br.r = &notify.Email{To: e.To, SMTP: e.SMTP, User: e.User, PasswordFile: e.PasswordFile, From: e.From, RootCAs: d.cfg.RootCAs, Now: d.clock.Now}
	case spec.Exec != nil:
		br.r = &notify.Exec{Program: spec.Exec.Program, Timeout: spec.Exec.Timeout}
	default:
		return nil, fmt.Errorf("%w: receiver of kind %q", notify.ErrPermanent, spec.Kind)
	}
	d.receivers[key] = br
	return br, nil
}

// deliveryMetrics are the figures of delivery on /metrics.
type deliveryMetrics struct {
	results *metricset.CounterVec // by receiver and result
	store   state.Store
	now     func() time.Time
}

func newDeliveryMetrics(set *metricset.Set, store state.Store, now func() time.Time) *deliveryMetrics {
	m := &deliveryMetrics{
		results: set.CounterVec("helen_notifications_total",
			"Attempts at delivering notifications, by receiver kind and result (delivered, retry, failed; expired with kind any).",
			"receiver", "result"),
		store: store,
		now:   now,
	}
	set.Describe("helen_outbox_notifications", "Notifications kept in the outbox, by state.")
	set.Describe("helen_outbox_oldest_open_seconds", "Age of the oldest notification not yet delivered nor expired (0: none).")
	set.Writer(m.writeOutbox)
	return m
}

// writeOutbox writes the figures of the outbox, read from the store at
// each scrape; none when the store cannot say.
func (m *deliveryMetrics) writeOutbox(w io.Writer) {
	st, err := m.store.OutboxStats()
	if err != nil {
		return
	}
	outbox := metricset.NewFamily("helen_outbox_notifications", "state")
	for _, s := range []state.NotificationState{state.NotifyPending, state.NotifyRetrying, state.NotifyDelivered, state.NotifyExpired} {
		outbox.Add(float64(st.Count[s]), string(s))
	}
	age := 0.0
	if !st.OldestOpen.IsZero() {
		age = max(0, m.now().Sub(st.OldestOpen).Seconds())
	}
	oldest := metricset.NewFamily("helen_outbox_oldest_open_seconds")
	oldest.Add(age)
	metricset.WriteFamilies(w, outbox, oldest)
}
