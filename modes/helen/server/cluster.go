package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/state/pgstore"
)

// Helens that share a store (Config.Store) keep there what they all use:
// the CA, its key sealed with the store key (AES-256-GCM), and the admin
// token, sealed too. The first helen to start makes them; the others take
// its (state.Cluster.PutSecret: the first wins). Each keeps in its data
// directory what is its own: its server certificate, issued at start by
// the shared CA, its admin socket, its TLS session ticket keys and the
// recordings of the shell sessions it served.

// The bounds of helens that share a store.
const (
	// BeatInterval is how often a helen records its heartbeat.
	BeatInterval = 2 * time.Second
	// HelenDead is how old a helen's last heartbeat is when it is dead:
	// the store's, by which it decides an agent down (MarkDown).
	HelenDead = state.DeadHelen
	// StoreKeySize is the size of the store key, in bytes.
	StoreKeySize = 32
	// openTimeout bounds each step of opening a shared store.
	openTimeout = 30 * time.Second
)

// The names of the shared secrets in the store.
const (
	secretCA         = "ca"
	secretAdminToken = "admin-token"
)

// ErrStoreKey is a store key that does not open the secrets of the store,
// or no key at all.
var ErrStoreKey = errors.New("store key")

// ParseStoreKey reads a store key: 32 bytes in hex or base64, space
// around it ignored.
func ParseStoreKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == StoreKeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == StoreKeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: want %d bytes in hex (%d digits) or base64 (make one with: openssl rand -hex %d)",
		ErrStoreKey, StoreKeySize, 2*StoreKeySize, StoreKeySize)
}

// shared is what openShared opens.
type shared struct {
	store        *pgstore.Store
	ca           *pki.CA
	cert         tls.Certificate
	adminToken   string
	tokenCreated bool
	started      time.Time
}

// openShared opens the store shared with other helens and takes from it
// the CA and the admin token (on the first helen's start, makes them),
// then issues this helen's server certificate in its data directory. A
// key that does not open the store's secrets is an error before anything
// is written, in the store or in the data directory.
func openShared(cfg Config) (*shared, error) {
	if len(cfg.StoreKey) != StoreKeySize {
		return nil, fmt.Errorf("helen: --store %s: %w: --store-key-file or HELEN_STORE_KEY is needed, %d bytes that every helen of the store is given",
			pgstore.Redact(cfg.Store), ErrStoreKey, StoreKeySize)
	}
	if err := checkHelenID(cfg.HelenID); err != nil {
		return nil, fmt.Errorf("helen: --helen-id: %w", err)
	}
	advertiseHost, err := checkNames(cfg)
	if err != nil {
		return nil, err
	}
	// A data directory of a helen alone holds its CA, which its agents
	// trust: a helen of a store serves there only once that CA is the
	// store's (MoveSecrets, which helen migrate runs).
	var local *pki.CA
	if hasCA, err := pki.HasCA(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("helen: %w", err)
	} else if hasCA {
		if local, err = pki.LoadCA(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("helen: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	st, err := pgstore.Open(ctx, cfg.Store, pgstore.Options{
		Helen:              cfg.HelenID,
		HistoryMaxAge:      cfg.HistoryMaxAge,
		HistoryMaxPerCheck: cfg.HistoryMaxPerCheck,
	})
	if err != nil {
		return nil, fmt.Errorf("helen: %w", err)
	}
	sh, err := takeShared(ctx, cfg, st, advertiseHost, local)
	if err != nil {
		st.Close()
		return nil, err
	}
	return sh, nil
}

func takeShared(ctx context.Context, cfg Config, st *pgstore.Store, advertiseHost string, local *pki.CA) (*shared, error) {
	if err := waitHelenGone(ctx, st, cfg.HelenID, time.Now, time.Sleep); err != nil {
		return nil, fmt.Errorf("helen: %w", err)
	}
	if local != nil {
		// Not made here: the CA of a store without it would then be one
		// whose agents, revoked ones too, the store knows nothing of.
		if _, err := st.Secret(ctx, secretCA); errors.Is(err, state.ErrNotFound) {
			return nil, fmt.Errorf("helen: %s holds the CA of a helen on its own database, and --store %s has none: "+
				"copy that helen into the store with `equus helen migrate`, or give this one a data directory of its own", cfg.DataDir, st.Path())
		}
	}
	ca, err := sharedCA(ctx, st, cfg.StoreKey)
	if err != nil {
		return nil, fmt.Errorf("helen: --store %s: %w", st.Path(), err)
	}
	if local != nil && !local.Cert.Equal(ca.Cert) {
		return nil, fmt.Errorf("helen: %s holds the CA of a helen on its own database (%s), not the one of --store %s (%s): "+
			"its agents would not trust this helen; give it a data directory of its own", cfg.DataDir, local.Pin(), st.Path(), ca.Pin())
	}
	token, created, err := sharedAdminToken(ctx, st, cfg.StoreKey)
	if err != nil {
		return nil, fmt.Errorf("helen: --store %s: %w", st.Path(), err)
	}
	// The data directory once the store's secrets opened: a helen refused
	// before leaves none behind.
	if err := makeDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := recordShared(cfg.DataDir, cfg.Store); err != nil {
		return nil, err
	}
	cert, err := serverCert(cfg, ca, advertiseHost)
	if err != nil {
		return nil, err
	}
	if err := st.DisconnectAll(time.Now()); err != nil {
		return nil, fmt.Errorf("helen: %w", err)
	}
	sh := &shared{store: st, ca: ca, cert: cert, adminToken: token, tokenCreated: created, started: time.Now()}
	// Among the others from now: its first heartbeat.
	if err := st.Beat(ctx, helenRow(cfg, sh.started, sh.started)); err != nil {
		return nil, fmt.Errorf("helen: %w", err)
	}
	return sh, nil
}

// checkHelenID returns an error for an id that cannot name a helen: 1 to
// pgstore.MaxHelenID bytes of what a host name has (A-Z a-z 0-9 . _ -).
func checkHelenID(id string) error {
	if id == "" || len(id) > pgstore.MaxHelenID {
		return fmt.Errorf("%q: want 1 to %d bytes", id, pgstore.MaxHelenID)
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q: want only A-Z a-z 0-9 . _ -", id)
		}
	}
	return nil
}

// waitHelenGone returns nil once no live helen has id: one whose last
// heartbeat is HelenDead old, or none at all. A helen whose beat moves
// meanwhile is alive, and an error: two helens with one id would take
// each other's claims for their own. Waiting, rather than refusing a beat
// newer than HelenDead, lets a helen restarted at once take its id back.
func waitHelenGone(ctx context.Context, st state.Cluster, id string, now func() time.Time, sleep func(time.Duration)) error {
	var first time.Time
	for {
		hs, err := st.Helens(ctx)
		if err != nil {
			return err
		}
		var beat time.Time
		for _, h := range hs {
			if h.ID == id {
				beat = h.Beat
			}
		}
		switch {
		case beat.IsZero() || now().Sub(beat) >= HelenDead:
			return nil
		case first.IsZero():
			first = beat
		case !beat.Equal(first):
			return fmt.Errorf("--helen-id %s: a live helen has that id (its heartbeat is %s old): give each helen its own",
				id, now().Sub(beat).Round(time.Millisecond))
		}
		sleep(BeatInterval / 4)
	}
}

// helenRow is this helen's row in the store at now, before it listens:
// the addresses it was told to advertise, if any.
func helenRow(cfg Config, started, now time.Time) state.Helen {
	return state.Helen{ID: cfg.HelenID, Addr: cfg.PeerAdvertise, Agents: cfg.Advertise, Version: cfg.Version, Started: started, Beat: now}
}

// row is this helen's row in the store at now, once it listens: the peer
// listener's address the other helens dial, and the agents' address its
// join commands name.
func (s *Server) row(now time.Time) state.Helen {
	row := helenRow(s.cfg, s.started, now)
	row.Addr = s.PeerAddr()
	if s.advertised.Addr != "" {
		row.Agents = s.advertised.Addr
	}
	return row
}

// helenList is the Helens hook of a helen of a shared store: the agents'
// addresses of the live helens, read from the store at most once every
// helensFresh, since join commands and refusals past MaxSessions call it
// each time.
type helenList struct {
	store state.Cluster
	self  string
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	others  []string // the live others' agents' addresses, by id
	fetched time.Time
	failing bool
}

// agents returns own, then the agents' addresses of the other live helens
// (a heartbeat newer than HelenDead) that have one, by id. When the store
// does not answer, the last list read stays, and the failure is logged
// once until it answers again.
func (l *helenList) agents(own string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.fetched.IsZero() || now.Sub(l.fetched) >= helensFresh || now.Before(l.fetched) {
		l.fetched = now
		ctx, cancel := context.WithTimeout(context.Background(), directoryTimeout)
		hs, err := l.store.Helens(ctx)
		cancel()
		switch {
		case err != nil && !l.failing:
			l.log.Warn("the other helens' addresses: join commands and agents sent elsewhere name those last read", "err", err)
			l.failing = true
		case err == nil:
			if l.failing {
				l.log.Info("the other helens' addresses read again")
				l.failing = false
			}
			l.others = l.others[:0]
			for _, h := range hs {
				if h.ID != l.self && h.Agents != "" && now.Sub(h.Beat) < HelenDead {
					l.others = append(l.others, h.Agents)
				}
			}
		}
	}
	out := make([]string, 0, 1+len(l.others))
	if own != "" {
		out = append(out, own)
	}
	return append(out, l.others...)
}

// beatLoop records this helen's heartbeat every BeatInterval until ctx
// ends. A failure is logged once, and the recovery from it.
func (s *Server) beatLoop(ctx context.Context) {
	t := time.NewTicker(BeatInterval)
	defer t.Stop()
	failing := false
	for first := true; ; first = false {
		// The first at once: the row gets the peer listener's and the
		// agents' addresses, known once it listens.
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		row := s.row(time.Now())
		bctx, cancel := context.WithTimeout(ctx, BeatInterval)
		err := s.cluster.Beat(bctx, row)
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			s.log.Error("heartbeat: the other helens take this one for dead after "+HelenDead.String()+" without one", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("heartbeat recorded again")
			failing = false
		}
	}
}

// beatStopped records this helen stopped, its sessions ended: a last beat
// HelenDead old, so that the others take it for dead at once, and that it
// takes its id back at once when it starts again.
func (s *Server) beatStopped() {
	ctx, cancel := context.WithTimeout(context.Background(), BeatInterval)
	defer cancel()
	if err := s.cluster.Beat(ctx, s.row(time.Now().Add(-HelenDead))); err != nil {
		s.log.Warn("record this helen stopped: the others take it for dead "+HelenDead.String()+" after its last heartbeat", "err", err)
	}
}

// caSecret is the CA as the store keeps it: the certificate, and its key
// sealed under the store key, bound to the certificate.
type caSecret struct {
	Cert string `json:"cert"` // PEM
	Key  []byte `json:"key"`  // sealed PEM
}

// sharedCA returns the store's CA, making it if there is none.
func sharedCA(ctx context.Context, st state.Cluster, key []byte) (*pki.CA, error) {
	v, err := st.Secret(ctx, secretCA)
	if errors.Is(err, state.ErrNotFound) {
		v, err = newCASecret(ctx, st, key)
	}
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	return openCASecret(v, key)
}

// StoreCA returns the CA of a shared store, its key opened with key, as
// the store's helens use it: for a tool on a helen's machine that issues
// agents' certificates (equus-load). It makes none: a store whose first
// helen has not started yet is state.ErrNotFound, a key that does not
// open it ErrStoreKey.
func StoreCA(ctx context.Context, st state.Cluster, key []byte) (*pki.CA, error) {
	if len(key) != StoreKeySize {
		return nil, fmt.Errorf("%w: %d bytes are needed", ErrStoreKey, StoreKeySize)
	}
	v, err := st.Secret(ctx, secretCA)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	return openCASecret(v, key)
}

// openCASecret opens the CA as the store keeps it (caSecret).
func openCASecret(v, key []byte) (*pki.CA, error) {
	var sec caSecret
	if err := json.Unmarshal(v, &sec); err != nil {
		return nil, fmt.Errorf("CA in the store: %w", err)
	}
	keyPEM, err := unseal(key, sec.Key, caKeyAAD(sec.Cert))
	if err != nil {
		return nil, err
	}
	ca, err := pki.ParseCA([]byte(sec.Cert), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA in the store: %w", err)
	}
	return ca, nil
}

// MoveSecrets puts the CA and the admin token of the helen of dataDir, a
// helen alone, into st, sealed with key, so that the helens of st are the
// ones its agents trust and its operators know: helen migrate runs it with
// the copy of the state. A store that holds another CA is an error, and
// one that holds this one already is left as it is.
func MoveSecrets(ctx context.Context, st state.Cluster, dataDir string, key []byte) error {
	if len(key) != StoreKeySize {
		return fmt.Errorf("%w: %d bytes are needed", ErrStoreKey, StoreKeySize)
	}
	ca, err := pki.LoadCA(dataDir)
	if err != nil {
		return err
	}
	v, err := caSecretOf(ca, key)
	if err != nil {
		return err
	}
	if _, err := st.PutSecret(ctx, secretCA, v); err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	stored, err := sharedCA(ctx, st, key)
	if err != nil {
		return err
	}
	if !stored.Cert.Equal(ca.Cert) {
		return fmt.Errorf("the store holds another CA (%s) than %s's (%s)", stored.Pin(), dataDir, ca.Pin())
	}
	token, _, err := loadOrCreateAdminToken(dataDir)
	if err != nil {
		return err
	}
	sealed, err := seal(key, []byte(token), []byte(adminTokenAAD))
	if err != nil {
		return err
	}
	if _, err := st.PutSecret(ctx, secretAdminToken, sealed); err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	return nil
}

// newCASecret makes a CA and offers it to the store, and returns the one
// stored: another helen's when it made one first.
func newCASecret(ctx context.Context, st state.Cluster, key []byte) ([]byte, error) {
	ca, err := pki.NewCA("Equus helen CA", time.Now())
	if err != nil {
		return nil, err
	}
	v, err := caSecretOf(ca, key)
	if err != nil {
		return nil, err
	}
	return st.PutSecret(ctx, secretCA, v)
}

// caSecretOf is ca as the store keeps it, its key sealed with key.
func caSecretOf(ca *pki.CA, key []byte) ([]byte, error) {
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	sealed, err := seal(key, keyPEM, caKeyAAD(string(ca.CertPEM)))
	if err != nil {
		return nil, err
	}
	return json.Marshal(caSecret{Cert: string(ca.CertPEM), Key: sealed})
}

// caKeyAAD binds a sealed CA key to its certificate.
func caKeyAAD(certPEM string) []byte { return []byte("equus CA key\x00" + certPEM) }

// adminTokenAAD is what a sealed admin token is bound to.
const adminTokenAAD = "equus admin token"

// sharedAdminToken returns the store's admin token, making it if there is
// none, and reports whether this call made it.
func sharedAdminToken(ctx context.Context, st state.Cluster, key []byte) (string, bool, error) {
	aad := []byte(adminTokenAAD)
	v, err := st.Secret(ctx, secretAdminToken)
	mine := ""
	if errors.Is(err, state.ErrNotFound) {
		mine = "eqa_" + rand.Text()
		var sealed []byte
		if sealed, err = seal(key, []byte(mine), aad); err == nil {
			v, err = st.PutSecret(ctx, secretAdminToken, sealed)
		}
	}
	if err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	token, err := unseal(key, v, aad)
	if err != nil {
		return "", false, err
	}
	return string(token), string(token) == mine, nil
}

// seal encrypts plain under key with AES-256-GCM, bound to aad: a random
// nonce, then the ciphertext and its tag.
func seal(key, plain, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plain, aad), nil
}

// unseal opens what seal made; a wrong key is an ErrStoreKey.
func unseal(key, sealed, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, fmt.Errorf("%w: a sealed secret of the store is cut short", ErrStoreKey)
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: it does not open the secrets of the store (the CA's key, the admin token): "+
			"every helen of a store needs the key the first one was given", ErrStoreKey)
	}
	return plain, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStoreKey, err)
	}
	return cipher.NewGCM(block)
}
