package server

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"aead.dev/minisign"
	"k8s.io/utils/clock"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/state"
)

// DefaultCertLifetime is how long agent certificates are valid unless
// Config.CertLifetime says otherwise.
const DefaultCertLifetime = 365 * 24 * time.Hour

// Config is what a helen server is made of. The zero value of a duration
// or size means its default.
type Config struct {
	// DataDir holds the database, the CA, the server certificate and the
	// admin socket; with a shared Store, what is this helen's own only
	// (its server certificate, the admin socket...).
	DataDir string
	// Store is the URL of a PostgreSQL database shared with other helens
	// (postgres://...); empty for the bbolt database in DataDir.
	Store string
	// HelenID is this helen's id among those of Store (default the host
	// name), StoreKey the 32-byte key that seals the secrets kept there
	// (the CA's key, the admin token): every helen of Store has the
	// same. HelenID also names this helen in its peer certificate
	// (pki.CheckHelenID). Neither serves without Store, but for a peer
	// listener (PeerListen).
	HelenID  string
	StoreKey []byte
	// Version is helen's own version, the one it offers agents when no
	// releases directory offers a newer one.
	Version string
	// Advertise is the HOST:PORT agents reach helen at, for the join
	// command; its host is added to the server certificate. By default
	// the first of SANs, else the agents' listener's own address, else
	// the host name, with the agents' port.
	Advertise string
	// SANs are names and addresses added to the server certificate
	// (pki.CheckSAN).
	SANs []string
	// ChecksDir is the check bundle served to agents ("" for none).
	ChecksDir string
	// ReleasesDir is a goreleaser dist/ folder of agent releases.
	ReleasesDir string
	// UpdateKey, when not nil, is the minisign key that signs releases
	// and the check bundle: helen offers only binaries it signed, serves
	// only a check bundle whose manifest it signed, and hands it to
	// agents that join (see join.go).
	UpdateKey *minisign.PublicKey
	// UpdateDisabled reports whether helen offers no update at all.
	UpdateDisabled bool
	// Executable is helen's own binary, offered as the release of its
	// own OS and architecture when there is no releases directory.
	Executable string
	// RolloutSpread is the window over which agents already connected
	// are asked to take a newly offered version (default 2 minutes).
	RolloutSpread time.Duration
	// InsecurePlaintext reports whether the agents' port speaks the
	// protocol without TLS: for debugging only, on loopback only.
	InsecurePlaintext bool

	HelloTimeout       time.Duration // default 10s
	WriteTimeout       time.Duration // default 10s
	HistoryMaxAge      time.Duration // default 30 days
	HistoryMaxPerCheck int           // default 10000, per agent, check and schedule
	DBCheckTimeout     time.Duration // bounds the database check at start; default 1 minute, negative no check

	// DownAfter is how long an agent may be silent, connected or not,
	// before it is declared down (an event); default 60s.
	DownAfter time.Duration
	// PingInterval is how often an idle agent is pinged: by default a
	// third of DownAfter, at most half of it (CheckPingInterval), so that
	// a live idle agent answers pings well within DownAfter.
	PingInterval time.Duration
	// Flapping says when a schedule flaps on an agent (nil:
	// monitor.DefaultFlapping).
	Flapping *monitor.Flapping
	// NotifyMaxAge is how long a notification is tried before it is
	// recorded expired; default monitor.DefaultNotifyMaxAge.
	NotifyMaxAge time.Duration
	// RecordInput reports whether shell sessions' recordings keep what the
	// operator typed too (passwords among it).
	RecordInput bool
	// SessionRetention is how long shell sessions' recordings are kept
	// (default 90 days); SessionMaxBytes bounds them all together
	// (default 2 GiB): a session that would pass it is ended, and none
	// begins while it is reached.
	SessionRetention time.Duration
	SessionMaxBytes  int64
	// MetricsAuth reports whether /metrics asks for the admin token.
	MetricsAuth bool
	// CertLifetime is how long the agent certificates helen issues are
	// valid (enrollment, helen issue, renewal); default a year, at least
	// pki.MinClientLifetime. Agents renew theirs at two thirds of it.
	CertLifetime time.Duration
	// Clock tells the time of agent certificates: when enrollments and
	// renewals issue them, when the agents' port finds them expired, and
	// how soon an agent may renew again. Nil: the real one.
	Clock clock.PassiveClock

	// MaxUnauthenticated bounds the connections of the agents' port that
	// have shown no valid agent certificate (default: half the file
	// descriptors left after helen's reserves), and
	// MaxUnauthenticatedPerAddress those of one source address (default
	// 256). MaxOpsConns bounds the operators' port's (default 256).
	MaxUnauthenticated           int
	MaxUnauthenticatedPerAddress int
	MaxOpsConns                  int
	// MaxHandshakes bounds the TLS handshakes of the agents' port that run
	// at once (default hub.DefaultMaxHandshakes); more wait their turn.
	MaxHandshakes int
	// MaxSessions bounds the agents' sessions helen holds (0: none but
	// its descriptors): an agent past it is told try_elsewhere, with the
	// other helens' addresses (Helens).
	MaxSessions int
	// Helens, when not nil, returns the agents' addresses (HOST:PORT) of
	// the helens that share this one's store, this one's among them or
	// not: join commands name them all, this one's first, and a helen at
	// MaxSessions sends agents to the others. Nil: on a shared store
	// (state.Cluster), those of the live helens' rows (helenList); else
	// this helen alone.
	Helens func() []string
	// HTTPIdleTimeout is how long an HTTPS keep-alive connection may wait
	// for its next request (default 60s).
	HTTPIdleTimeout time.Duration

	// PeerListen is the address of the peer listener, where the other
	// helens of a shared store ask this one for runs, reloads and shell
	// sessions on the agents it holds: "" for DefaultPeerListen on a
	// shared store (state.Cluster), none on a store of one helen.
	PeerListen string
	// PeerAdvertise is the HOST:PORT the other helens reach the peer
	// listener at, in this helen's row among them (Server.PeerAddr);
	// default the listener's own address.
	PeerAdvertise string

	Log *slog.Logger

	// directory says which helen holds an agent's session instead of a
	// shared store (tests of helens on stores of their own).
	directory directory
	// logClock is the clock of the log rate limit (tests).
	logClock func() time.Time
	// dashClock is the clock of the dashboard's sessions (tests).
	dashClock func() time.Time
	// downloadTimeout bounds a download's whole response (tests; default
	// maxDownloadTime).
	downloadTimeout time.Duration
	// offersRecheck is how often the release on offer is looked at again
	// (tests; default 5s).
	offersRecheck time.Duration
	// shellJoinTimeout bounds the wait for an agent's shell connection
	// (tests; default hub.DefaultShellJoinTimeout).
	shellJoinTimeout time.Duration
	// hubClock is the clock of the pings (tests); nil: the real one.
	hubClock clock.WithDelayedExecution
	// receiverRoots verifies the certificates of the receivers, of a
	// route's test and of deliveries (tests); nil: the system's roots.
	receiverRoots *x509.CertPool
	// monitorClock is the monitor's clock (tests); nil: the real one.
	monitorClock clock.WithTickerAndDelayedExecution
	// wrapStore, when not nil, wraps the store the rooms use (tests that
	// count what is written).
	wrapStore func(state.Store) state.Store
}

// The defaults of the shell sessions' recordings.
const (
	DefaultSessionRetention       = 90 * 24 * time.Hour
	DefaultSessionMaxBytes  int64 = 2 << 30
)

// CheckPingInterval returns an error unless ping, an idle agent's ping
// interval, is at most half of downAfter: a live agent that is asked less
// often could be declared down between two answers.
func CheckPingInterval(ping, downAfter time.Duration) error {
	if 2*ping > downAfter {
		return fmt.Errorf("ping interval %s: want at most half the down-after, %s", ping, downAfter/2)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.HTTPIdleTimeout <= 0 {
		c.HTTPIdleTimeout = defaultHTTPIdleTimeout
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.CertLifetime == 0 {
		c.CertLifetime = DefaultCertLifetime
	}
	if c.DownAfter <= 0 {
		c.DownAfter = 60 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = c.DownAfter / 3
	}
	if c.Version == "" {
		c.Version = "0.0.0-dev"
	}
	if c.HelenID == "" {
		c.HelenID, _ = os.Hostname()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.SessionRetention <= 0 {
		c.SessionRetention = DefaultSessionRetention
	}
	if c.SessionMaxBytes <= 0 {
		c.SessionMaxBytes = DefaultSessionMaxBytes
	}
	return c
}
