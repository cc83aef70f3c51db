package helen

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"

	"aead.dev/minisign"
	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/modes/helen/hub"
	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/netlimit"
	"github.com/equus-monitoring/equus/modes/setup"
	"github.com/equus-monitoring/equus/state/pgstore"
	"github.com/equus-monitoring/equus/update"
)

func serveCommand(version string, dev DevFunc) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run helen",
		Description: `Serves agents on --listen (the wire protocol over mutual TLS, and the agents'
HTTPS endpoints: enrollment, updates, the check bundle, the bootstrap script)
and operators on --http (health and metrics). On first start it creates its
CA and server certificate in --data, and prints the CA pin and the command
that joins a machine.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: ":7480", Usage: "agents' `ADDRESS`", EnvVars: []string{"HELEN_LISTEN"}},
			&cli.StringFlag{Name: "http", Value: ":7481", Usage: "operators' `ADDRESS` (empty: none)", EnvVars: []string{"HELEN_HTTP"}},
			dataFlag(),
			&cli.StringFlag{Name: "store", Usage: "keep the state in the PostgreSQL database at `URL` (postgres://...), shared with other helens, instead of the bbolt file in --data", EnvVars: []string{"HELEN_STORE"}},
			&cli.StringFlag{Name: "helen-id", Usage: "this helen's `ID` among those of --store, unique to a live helen (default: the host name)", EnvVars: []string{"HELEN_ID"}},
			&cli.StringFlag{Name: "store-key-file", Usage: "`FILE` holding the key (32 bytes, hex or base64) that seals the CA's key and the admin token in --store, the same for every helen of it (or the key itself in HELEN_STORE_KEY)", EnvVars: []string{"HELEN_STORE_KEY_FILE"}},
			&cli.StringFlag{Name: "checks", Usage: "check bundle `DIR` served to agents", EnvVars: []string{"HELEN_CHECKS"}},
			&cli.StringFlag{Name: "releases", Usage: "goreleaser dist/ `DIR` of agent releases to offer", EnvVars: []string{"HELEN_RELEASES"}},
			&cli.BoolFlag{Name: "no-update", Usage: "offer agents no update", EnvVars: []string{"HELEN_NO_UPDATE"}},
			&cli.StringFlag{Name: "update-key", Usage: "minisign public `KEY` (or a file holding it) that signs the releases and the check directory's manifest: " +
				"helen offers only what it signed, and the machines that join take only that", EnvVars: []string{"HELEN_UPDATE_KEY"}},
			&cli.StringSliceFlag{Name: "san", Usage: "add `NAME` (DNS name or IP) to the server certificate; the first is where join commands send agents, with --listen's port", EnvVars: []string{"HELEN_SANS"}},
			&cli.StringFlag{Name: "advertise", Usage: "`HOST:PORT` join commands send agents to, instead of the first --san (its host is added to the server certificate)", EnvVars: []string{"HELEN_ADVERTISE"}},
			&cli.DurationFlag{Name: "history-max-age", Value: 30 * 24 * time.Hour, Usage: "prune results, events and expired enrollment tokens older than `AGE`", EnvVars: []string{"HELEN_HISTORY_MAX_AGE"}},
			&cli.IntFlag{Name: "history-max-per-check", Value: 10000, Usage: "keep at most `N` results per agent, check and schedule", EnvVars: []string{"HELEN_HISTORY_MAX_PER_CHECK"}},
			dbCheckFlag(),
			&cli.BoolFlag{Name: "dev", Usage: "try it out: a fresh data directory (unless --data), helen on loopback, one agent in this process, a few checks scheduled", EnvVars: []string{"HELEN_DEV"}},
			&cli.DurationFlag{Name: "rollout-spread", Value: hub.DefaultRolloutSpread, Usage: "ask connected agents to take a newly offered version over `DURATION`", EnvVars: []string{"HELEN_ROLLOUT_SPREAD"}},
			&cli.DurationFlag{Name: "down-after", Value: 60 * time.Second, Usage: "declare an agent down when nothing was heard from it, connected or not, for `DURATION`", EnvVars: []string{"HELEN_DOWN_AFTER"}},
			&cli.DurationFlag{Name: "ping-interval", Usage: "ping an idle agent every `DURATION`, at most half of --down-after (0: a third of it)", EnvVars: []string{"HELEN_PING_INTERVAL"}},
			&cli.Float64Flag{Name: "flap-start", Value: monitor.DefaultFlapping.Start, Usage: "a schedule flaps on an agent from a result that takes its weighted share of changes of status in its last 20 results above `PERCENT` (100: never)", EnvVars: []string{"HELEN_FLAP_START"}},
			&cli.DurationFlag{Name: "notify-max-age", Value: monitor.DefaultNotifyMaxAge, Usage: "record a notification not delivered within `DURATION` of its making as expired", EnvVars: []string{"HELEN_NOTIFY_MAX_AGE"}},
			&cli.Float64Flag{Name: "flap-end", Value: monitor.DefaultFlapping.End, Usage: "and stops at a result that takes that share to `PERCENT` or below (at most --flap-start)", EnvVars: []string{"HELEN_FLAP_END"}},
			&cli.IntFlag{Name: "max-unauthenticated", Usage: "accept at most `N` connections without a valid agent certificate on --listen (0: half the file descriptors left after helen's reserves, at most 10000)", EnvVars: []string{"HELEN_MAX_UNAUTHENTICATED"}},
			&cli.IntFlag{Name: "max-unauthenticated-per-address", Value: netlimit.DefaultMaxUnauthPerAddr, Usage: "of which at most `N` from one source address (an IPv6 /64)", EnvVars: []string{"HELEN_MAX_UNAUTHENTICATED_PER_ADDRESS"}},
			&cli.IntFlag{Name: "max-sessions", Usage: "hold at most `N` agents' sessions; past it an agent is sent to another helen of the cluster (0: no bound but the file descriptors)", EnvVars: []string{"HELEN_MAX_SESSIONS"}},
			&cli.DurationFlag{Name: "cert-lifetime", Value: server.DefaultCertLifetime, Usage: "issue agent certificates valid for `DURATION` (agents renew theirs at two thirds of it)", EnvVars: []string{"HELEN_CERT_LIFETIME"}},
			&cli.BoolFlag{Name: "record-input", Usage: "record what operators type in shell sessions too (passwords among it), not only what the sessions print", EnvVars: []string{"HELEN_RECORD_INPUT"}},
			&cli.DurationFlag{Name: "session-retention", Value: server.DefaultSessionRetention, Usage: "keep the recordings of shell sessions for `DURATION`", EnvVars: []string{"HELEN_SESSION_RETENTION"}},
			&cli.Int64Flag{Name: "session-max-bytes", Value: server.DefaultSessionMaxBytes, Usage: "keep at most `BYTES` of shell sessions' recordings: a session that would pass it is ended, and none begins until retention makes room", EnvVars: []string{"HELEN_SESSION_MAX_BYTES"}},
			&cli.StringFlag{Name: "peer-listen", Usage: "the other helens' `ADDRESS` (mutual TLS with the CA's peer certificates), where they ask this one for runs, reloads and shell sessions on the agents it holds " +
				"(empty: " + server.DefaultPeerListen + " on a store shared by helens, none on a store of one helen)", EnvVars: []string{"HELEN_PEER_LISTEN"}},
			&cli.StringFlag{Name: "peer-advertise", Usage: "`HOST:PORT` the other helens reach --peer-listen at (default: its own address, else the first --san or the host name, with its port)", EnvVars: []string{"HELEN_PEER_ADVERTISE"}},
			&cli.BoolFlag{Name: "metrics-auth", Usage: "ask for the admin token on /metrics too", EnvVars: []string{"HELEN_METRICS_AUTH"}},
			&cli.StringFlag{Name: "cpu-profile", Usage: "write a CPU profile of helen from start to stop to `FILE` (for go tool pprof)", EnvVars: []string{"HELEN_CPU_PROFILE"}},
			&cli.BoolFlag{Name: "insecure-plaintext", Usage: "DEBUG ONLY: speak the protocol without TLS on a loopback --listen", EnvVars: []string{"HELEN_INSECURE_PLAINTEXT"}},
		},
		// helen.service runs it: a usage error exits 78 (EX_CONFIG), on
		// which the unit does not restart.
		OnUsageError: setup.DaemonOnUsageError,
		Action: func(c *cli.Context) error {
			for _, name := range []string{"max-unauthenticated", "max-unauthenticated-per-address", "max-sessions"} {
				if c.Int(name) < 0 {
					return setup.Usagef(c, "--%s %d: want 0 or more", name, c.Int(name))
				}
			}
			if p, d := c.Duration("ping-interval"), c.Duration("down-after"); p < 0 {
				return setup.Usagef(c, "--ping-interval %s: want 0 or more", p)
			} else if p > 0 && d > 0 {
				if err := server.CheckPingInterval(p, d); err != nil {
					return setup.Usagef(c, "--ping-interval: %v", err)
				}
			}
			if a := c.Duration("notify-max-age"); a <= 0 {
				return setup.Usagef(c, "--notify-max-age %s: want more than 0", a)
			}
			flapping := monitor.Flapping{Start: c.Float64("flap-start"), End: c.Float64("flap-end")}
			if err := flapping.Check(); err != nil {
				return setup.Usagef(c, "--flap-start %v, --flap-end %v: %v", flapping.Start, flapping.End, err)
			}
			var key *minisign.PublicKey
			if k := c.String("update-key"); k != "" {
				var err error
				if key, err = update.LoadPublicKey(k); err != nil {
					return setup.Usagef(c, "--update-key: %v", err)
				}
			}
			log, err := setup.Logger(c)
			if err != nil {
				return setup.Usagef(c, "%v", err)
			}
			storeKey, err := storeKey(c, os.LookupEnv)
			if err != nil {
				return err
			}
			cfg := server.Config{
				DataDir:            c.String("data"),
				Store:              c.String("store"),
				HelenID:            c.String("helen-id"),
				StoreKey:           storeKey,
				Version:            version,
				SANs:               c.StringSlice("san"),
				Advertise:          c.String("advertise"),
				ChecksDir:          c.String("checks"),
				ReleasesDir:        c.String("releases"),
				UpdateDisabled:     c.Bool("no-update"),
				InsecurePlaintext:  c.Bool("insecure-plaintext"),
				HistoryMaxAge:      c.Duration("history-max-age"),
				HistoryMaxPerCheck: c.Int("history-max-per-check"),
				DBCheckTimeout:     c.Duration("db-check-timeout"),
				DownAfter:          c.Duration("down-after"),
				PingInterval:       c.Duration("ping-interval"),
				Flapping:           &flapping,
				NotifyMaxAge:       c.Duration("notify-max-age"),
				RolloutSpread:      c.Duration("rollout-spread"),
				MetricsAuth:        c.Bool("metrics-auth"),
				PeerListen:         c.String("peer-listen"),
				PeerAdvertise:      c.String("peer-advertise"),
				RecordInput:        c.Bool("record-input"),
				SessionRetention:   c.Duration("session-retention"),
				SessionMaxBytes:    c.Int64("session-max-bytes"),

				MaxUnauthenticated:           c.Int("max-unauthenticated"),
				MaxUnauthenticatedPerAddress: c.Int("max-unauthenticated-per-address"),
				MaxSessions:                  c.Int("max-sessions"),
				CertLifetime:                 c.Duration("cert-lifetime"),
				UpdateKey:                    key,
				Log:                          log,
			}
			tuneGC(os.LookupEnv)
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if c.Bool("dev") {
				if dev == nil {
					return setup.Usagef(c, "--dev: this build has no dev mode")
				}
				return dev(ctx, c, cfg)
			}
			if p := c.String("cpu-profile"); p != "" {
				stop, err := startCPUProfile(p)
				if err != nil {
					return err
				}
				defer stop()
			}
			return runServe(ctx, cfg, c.String("listen"), c.String("http"), c.App.Writer)
		},
	}
}

// storeKey returns the store key of --store-key-file or HELEN_STORE_KEY,
// and checks that a shared --store has one and a bbolt helen none.
func storeKey(c *cli.Context, getenv func(string) (string, bool)) ([]byte, error) {
	store, file := c.String("store"), c.String("store-key-file")
	_, inEnv := getenv(StoreKeyEnv)
	shared := pgstore.IsURL(store)
	switch {
	case store != "" && !shared:
		return nil, setup.Usagef(c, "--store %s: want a postgres:// URL (without --store, the state is in --data's bbolt file)", pgstore.Redact(store))
	case !shared && c.IsSet("helen-id"):
		return nil, setup.Usagef(c, "--helen-id: a helen has an id among others only with a shared --store")
	case !shared && (file != "" || inEnv):
		return nil, setup.Usagef(c, "--store-key-file or %s: a store key seals the secrets of a shared --store only", StoreKeyEnv)
	case !shared:
		return nil, nil
	}
	return readStoreKey(c, "--store "+pgstore.Redact(store), file, getenv)
}

// readStoreKey returns the store key of the shared store that the flag
// named (its URL without its password), from file (--store-key-file) or
// else HELEN_STORE_KEY, which must not be both.
func readStoreKey(c *cli.Context, flag, file string, getenv func(string) (string, bool)) ([]byte, error) {
	env, inEnv := getenv(StoreKeyEnv)
	switch {
	case file != "" && inEnv:
		return nil, setup.Usagef(c, "--store-key-file and %s: give the store key one way", StoreKeyEnv)
	case file == "" && !inEnv:
		return nil, setup.Usagef(c, "%s: a store key is needed (--store-key-file or %s), the same for every helen of the store; make one with: openssl rand -hex %d",
			flag, StoreKeyEnv, server.StoreKeySize)
	}
	text, from := env, StoreKeyEnv
	if file != "" {
		b, err := readBounded(file, 1<<10)
		if err != nil {
			return nil, setup.Usagef(c, "--store-key-file: %v", err)
		}
		text, from = string(b), "--store-key-file "+file
	}
	key, err := server.ParseStoreKey(text)
	if err != nil {
		return nil, setup.Usagef(c, "%s: %v", from, err)
	}
	return key, nil
}

// StoreKeyEnv holds the store key itself, as --store-key-file's file
// does.
const StoreKeyEnv = "HELEN_STORE_KEY"

// readBounded reads the file at path, of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: more than %d bytes", path, max)
	}
	return b, nil
}

// startCPUProfile starts profiling the process into path, and returns
// what ends it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// runServe runs helen with cfg, serving agents on listen and operators
// on httpAddr ("" for none), until ctx ends. What it prints for its
// operator at start goes to out; the rest to cfg.Log.
func runServe(ctx context.Context, cfg server.Config, listen, httpAddr string, out io.Writer) error {
	log := cfg.Log
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := server.RecordUpdateKey(cfg.DataDir, cfg.UpdateKey); err != nil {
		return err
	}
	if cfg.UpdateKey != nil {
		log.Info("serving signed releases and check bundles only", "update_key", cfg.UpdateKey.String())
	} else {
		log.Warn("no --update-key: releases and check bundles are served unsigned, and the agents that join trust helen for them")
	}
	ls, err := srv.Listen(listen, httpAddr)
	if err != nil {
		return err
	}
	if cfg.InsecurePlaintext {
		log.Warn("--insecure-plaintext: agents connect without TLS or authentication; for debugging only")
	}
	fmt.Fprintf(out, "helen %s serving agents on %s", cfg.Version, ls.Agents.Addr())
	if ls.Ops != nil {
		fmt.Fprintf(out, ", operators on https://%s", ls.Ops.Addr())
	}
	fmt.Fprintf(out, "\ndata: %s\nCA pin: %s\n", cfg.DataDir, srv.CA().Pin())
	if token, created := srv.AdminToken(); created {
		kept := filepath.Join(cfg.DataDir, server.AdminTokenFile)
		if cfg.Store != "" {
			kept = "the store, sealed with the store key"
		}
		fmt.Fprintf(out, "admin token for the operators' API (printed once; kept in %s):\n  %s\n", kept, token)
	}
	fmt.Fprintf(out, "%s\njoin a machine, as root on it (make a token with `equus helen token`):\n  %s\n", srv.JoinWhere(), srv.JoinCommand("TOKEN"))
	log.Info("helen started", "version", cfg.Version, "pid", os.Getpid())
	err = srv.Serve(ctx, ls)
	log.Info("helen stopped")
	return err
}
