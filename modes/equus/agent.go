package equus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/equus-monitoring/equus/internal/backoff"
	"github.com/equus-monitoring/equus/lua"
	"github.com/equus-monitoring/equus/modes/equus/shell"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/wire"
)

// ErrReload is returned by Run when helen asked for a reload and stage0
// supervises the agent: the process exits with status 3, and stage0 syncs
// the check bundle and the binary and starts it again.
var ErrReload = errors.New("equus: reload asked by helen")

// agent is the state that outlives a session.
type agent struct {
	cfg   Config
	log   *slog.Logger
	rt    *lua.Runtime
	start time.Time
	// sem bounds the Lua checks running, across sessions: a session's
	// worker holds a token while it waits for a check and runs it, and a
	// check an ended session left behind keeps its token until it returns.
	sem   chan struct{}
	ready sync.Once
	// settled gives back the memory of start-up once (settle).
	settled sync.Once
	// clock tells the time for renewing and expiring the certificate.
	clock clock.Clock

	// mu guards what the renewal changes under the sessions: the
	// certificate, how helen is recognised (resolved once), and how to
	// end the session that presents the certificate.
	mu         sync.Mutex
	cert       tls.Certificate
	trust      pki.Trust
	endSession context.CancelFunc
	// tickets are the TLS sessions to resume, of the certificate
	// ticketsCert (sessionCache).
	tickets     *pki.SessionCache
	ticketsCert *x509.Certificate

	// helen is the helen dialed now (under mu), given by rot.
	helen helenAddr
	rot   *rotation

	// shells runs the shell sessions; nil without --allow-shell.
	shells *shell.Manager
}

// Run runs the agent until ctx ends, when it lets running checks finish
// for a moment and returns nil. It enrolls first when it must, then keeps
// a session with helen, reconnecting with backoff, and renews its
// certificate when two thirds of its validity have passed. It returns an
// error only for what retrying cannot mend: a bad configuration, a refused
// enrollment, an expired certificate (ErrCertExpired), or ErrReload under
// stage0.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	a := &agent{
		cfg:   cfg,
		log:   log,
		start: time.Now(),
		sem:   make(chan struct{}, cfg.Concurrency),
		trust: cfg.Trust(),
		clock: cfg.Clock,
		rot:   newRotation(cfg.Helens),
	}
	if a.clock == nil {
		a.clock = clock.RealClock{}
	}
	if cfg.onRotation != nil {
		cfg.onRotation(a.rot)
	}
	bo := &backoff.Exponential{Min: cfg.BackoffMin, Max: cfg.BackoffMax, Jitter: backoff.FullJitter}
	if cfg.InsecurePlaintext {
		log.Warn("INSECURE: --insecure-plaintext talks to helen WITHOUT TLS: no encryption, no authentication. For debugging on one machine only.", "helen", strings.Join(cfg.Helens, ","))
	} else if err := a.identity(ctx, bo); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// The helen of the first session is the renewal's from the start,
	// which may come before that session.
	a.dialNext(ctx)
	a.rot.again()
	_, keyPath := cfg.KeyPairFiles()
	rt, err := lua.New(lua.Options{
		Dir: cfg.ChecksDir, Exec: cfg.Exec, Log: a.luaLog, MaxHeap: cfg.MaxCheckHeap,
		// Checks run with the agent's rights; its key, and its config file
		// with the token perhaps, are not theirs to read.
		PrivatePaths: []string{cfg.DataDir, keyPath, cfg.ConfigFile},
	})
	if err != nil {
		return fmt.Errorf("check runtime: %w", err)
	}
	defer rt.Close()
	a.rt = rt
	a.logLoadErrors()
	if !cfg.InsecurePlaintext {
		renewCtx, stopRenewing := context.WithCancel(ctx)
		renewing := make(chan struct{})
		go func() {
			defer close(renewing)
			a.renewLoop(renewCtx)
		}()
		defer func() {
			stopRenewing()
			<-renewing
		}()
	}
	if cfg.AllowShell {
		// The sessions end with Run, whatever ends it: their processes
		// hung up, then killed.
		shellCtx, stopShells := context.WithCancel(ctx)
		shells, err := shell.New(shellCtx, cfg.Shell, a.dialShell, log)
		if err != nil {
			stopShells()
			return err
		}
		a.shells = shells
		defer func() {
			stopShells()
			shells.Wait()
		}()
		log.Warn("shell sessions allowed: helen's operators may run commands on this host", "users", shellUsersLog(cfg.Shell.Users))
	}
	return a.loop(ctx, bo)
}

// shellUsersLog names the users shell sessions may run as, for the log.
func shellUsersLog(users []string) string {
	if len(users) == 0 {
		return "the agent's own"
	}
	return strings.Join(users, ",")
}

// loop runs sessions one after the other until one must end the agent,
// each with the helen the rotation gives.
func (a *agent) loop(ctx context.Context, bo *backoff.Exponential) error {
	rs := &backoff.Restart{Clock: a.clock}
	for {
		log := a.log.With("helen", a.dialNext(ctx).String())
		log.Debug("connecting")
		o := a.session(ctx)
		if o.up >= a.cfg.BackoffReset {
			bo.Reset()
		}
		if o.checks > 0 {
			a.rot.accepted()
		}
		switch {
		case o.end == endShutdown:
			return nil
		case o.end == endReload && a.cfg.Supervised:
			return ErrReload
		case o.end == endReload && o.checks > 0:
			a.reloadChecks(log)
			bo.Reset()
			a.rot.again()
			continue
		case o.end == endRenewed:
			log.Info("session ended to switch to the renewed certificate; reconnecting")
			bo.Reset()
			a.rot.again()
			continue
		}
		if !a.cfg.InsecurePlaintext {
			// Helen refuses an expired certificate in the handshake, and
			// no retry can change that.
			if err := a.expired(a.currentCert().Leaf); err != nil {
				return err
			}
		}
		// A reload right after hello is for the version, which only stage0
		// can change: backing off keeps the agent from spinning on it.
		wait := retryWait(bo, rs, a.rot, o)
		a.logEnding(log, o, wait)
		if err := bo.Sleep(ctx, wait); err != nil {
			return nil
		}
	}
}

// dialNext makes the rotation's next helen the one the agent dials, and
// returns it.
func (a *agent) dialNext(ctx context.Context) helenAddr {
	h := a.rot.next(ctx)
	a.mu.Lock()
	a.helen = h
	a.mu.Unlock()
	return h
}

// currentHelen returns the helen the agent dials now: its session's, for
// the shell connections and the renewal.
func (a *agent) currentHelen() helenAddr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.helen
}

// retryWait returns the wait before the session after one that ended
// with o: counted by bo, or by rs while helen restarts, or short when a
// helen at its bound sent the agent elsewhere. Helen's shutting_down,
// and the connection of a session helen had accepted breaking (helen
// killed), are signs of a restart: they open rs's window, within which
// the agent retries every fraction of a second a session that could not
// be made, broke, or met shutting_down again, whatever the backoff grew
// to; the backoff starts over. Other errors, and all past the window,
// back off; the backoff grows only once rot's round is over, every helen
// tried. After try_elsewhere the agent dials another helen within
// elsewhereJitter, while the round has one it has not tried.
func retryWait(bo *backoff.Exponential, rs *backoff.Restart, rot *rotation, o outcome) time.Duration {
	// equus.info is the first check of every session helen accepted.
	accepted := o.checks > 0
	if accepted {
		rs.Accepted()
	}
	restart := helenRestarting(o)
	if (restart || o.end == endFailed && accepted) && rs.Sign() {
		bo.Reset()
	}
	if addrs, ok := sentElsewhere(o); ok {
		rot.elsewhere(addrs)
		if !rot.over() {
			return elsewhereWait()
		}
	}
	if restart || o.end == endFailed || o.end == endUnreachable {
		if wait, ok := rs.Next(); ok {
			return wait
		}
	}
	if rot.over() {
		return bo.Next()
	}
	return bo.Again()
}

// sentElsewhere returns the addresses of o's try_elsewhere, and reports
// whether helen sent it.
func sentElsewhere(o outcome) ([]string, bool) {
	if o.end != endError {
		return nil, false
	}
	return wire.Elsewhere(o.message)
}

// helenRestarting reports whether o is helen's error shutting_down.
func helenRestarting(o outcome) bool {
	code, _, _ := strings.Cut(o.message, " ")
	return o.end == endError && wire.Code(code) == wire.CodeShuttingDown
}

// reloadChecks reads the check files again, in place.
func (a *agent) reloadChecks(log *slog.Logger) {
	if err := a.rt.Reload(); err != nil {
		log.Error("reloading the checks failed; keeping the loaded ones", "err", err)
		return
	}
	log.Info("checks reloaded", "bundle_hash", a.rt.BundleHash())
	a.logLoadErrors()
}

// identity loads the agent's certificate, enrolling first when the data
// directory has none and a token was given, or has one that expired and a
// token was given. An expired certificate without a token is
// ErrCertExpired.
func (a *agent) identity(ctx context.Context, bo *backoff.Exponential) error {
	cfg := a.cfg
	if cfg.CertFile == "" && !enrolled(cfg.DataDir) {
		if err := a.enrollRetrying(ctx, bo, cfg.Name); err != nil {
			return err
		}
	}
	certPath, keyPath := cfg.KeyPairFiles()
	cert, err := pki.LoadKeyPair(certPath, keyPath)
	if err != nil {
		return err
	}
	if expired := a.expired(cert.Leaf); expired != nil {
		if cfg.CertFile != "" || cfg.Token == "" {
			return expired
		}
		name := cert.Leaf.Subject.CommonName
		a.log.Warn("the agent's certificate has expired; enrolling again with the token given", "name", name,
			"expired", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		if err := a.enrollRetrying(ctx, bo, name); err != nil {
			if errors.Is(err, ErrTokenRefused) {
				return fmt.Errorf("%w (the token given was refused: %w)", expired, err)
			}
			return err
		}
		if cert, err = pki.LoadKeyPair(certPath, keyPath); err != nil {
			return err
		}
	}
	a.cert = cert
	a.log.Info("agent identity", "name", cert.Leaf.Subject.CommonName, "expires", cert.Leaf.NotAfter.Format(time.DateOnly))
	return nil
}

// enrollRetrying enrolls the agent under name, at any of its helens:
// retrying with the next, with backoff, while it cannot be reached, not
// once a helen refused it (the helens share their tokens).
func (a *agent) enrollRetrying(ctx context.Context, bo *backoff.Exponential, name string) error {
	for {
		h := a.dialNext(ctx)
		err := a.enroll(ctx, h, name)
		if err == nil {
			break
		}
		if errors.Is(err, ErrTokenRefused) {
			return err
		}
		wait := bo.Again()
		if a.rot.over() {
			wait = bo.Next()
		}
		a.log.Warn("enrollment failed, will retry", "helen", h.String(), "err", err, "retry_in", wait.Round(time.Millisecond))
		if err := bo.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	bo.Reset()
	// The first session goes to the helen that enrolled the agent.
	a.rot.accepted()
	a.rot.again()
	// Helen's CA is saved now; the pin, if any, still has to match it.
	a.trust = a.cfg.Trust()
	return nil
}

func (a *agent) enroll(ctx context.Context, h helenAddr, name string) error {
	trust, err := ResolveTrust(ctx, a.trust, h.dial, h.serverName)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	a.trust = trust
	cfg := a.cfg
	cfg.Name = name
	name, err = enroll(ctx, cfg, h, trust)
	if err != nil {
		return err
	}
	a.log.Info("enrolled", "name", name, "data", a.cfg.DataDir)
	return nil
}

// accepted is called when a session gets its first check, which tells that
// helen accepted the hello. Under stage0 the first one prints the ready
// line stage0 waits for.
func (a *agent) accepted() {
	a.log.Info("connected to helen", "helen", a.currentHelen().String())
	a.settle()
	if !a.cfg.Supervised || a.cfg.Ready == nil {
		return
	}
	a.ready.Do(func() {
		if _, err := fmt.Fprintf(a.cfg.Ready, "ready %s\n", a.cfg.Version); err != nil {
			a.log.Error("telling stage0 the agent is ready", "err", err)
		}
	})
}

// luaLog receives the messages that checks write with the log module.
func (a *agent) luaLog(level slog.Level, check, msg string) {
	a.log.Log(context.Background(), level, msg, "check", check)
}

// logLoadErrors reports the check files that did not load.
func (a *agent) logLoadErrors() {
	for _, c := range a.rt.Checks() {
		if c.Err != "" {
			a.log.Error("check did not load", "check", c.Name, "source", c.Source, "err", c.Err)
		}
	}
}
