package stage0

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/modes/equus"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/update"
)

const (
	// requestTimeout bounds a request for helen's offer or bundle.
	requestTimeout = 30 * time.Second
	// downloadTimeout bounds the download of a binary.
	downloadTimeout = 10 * time.Minute
	// maxOffer bounds helen's answer to GET /v1/update.
	maxOffer = 64 << 10
)

// errNoOffer means that helen offers no binary for this platform.
var errNoOffer = errors.New("helen offers no update for this platform")

// sync fetches the check bundle and, when helen offers a newer version,
// the binary. It returns the agent it started from a new binary, if it
// did, and reports whether the check bundle changed.
func (s *supervisor) sync(ctx context.Context) (*child, bool) {
	s.synced = true
	client := s.syncClient(ctx)
	if client == nil {
		return nil, false
	}
	defer client.CloseIdleConnections()
	changed := s.installBundle(ctx, client)
	return s.upgrade(ctx, client), changed
}

// firstSync syncs the check bundle for an agent that has just enrolled,
// and reports whether it changed, in which case the agent must start
// again to load it. Its version needs nothing here: helen asks an
// outdated agent to reload as soon as it says hello.
func (s *supervisor) firstSync(ctx context.Context) bool {
	s.synced = true
	client := s.syncClient(ctx)
	if client == nil {
		return false
	}
	defer client.CloseIdleConnections()
	return s.installBundle(ctx, client)
}

// syncClient returns the client to sync with, or nil, after saying why,
// when there is none.
func (s *supervisor) syncClient(ctx context.Context) *http.Client {
	if s.cfg.Agent.InsecurePlaintext {
		s.log.Warn("no sync with helen: --insecure-plaintext has no TLS for the bundle and update endpoints")
		return nil
	}
	client, err := s.client(ctx)
	if err != nil {
		s.log.Error("sync with helen failed: no client", "err", err)
		return nil
	}
	return client
}

// installBundle syncs the check bundle, saying so when it fails, and
// reports whether it changed.
func (s *supervisor) installBundle(ctx context.Context, client *http.Client) bool {
	changed, err := s.syncBundle(ctx, client)
	if err != nil {
		s.log.Error("check bundle not synced; keeping the current one", "err", err)
	}
	return changed
}

// enrolled reports whether the agent has a certificate to talk to helen's
// update endpoints with, one that has not expired. An expired one is the
// agent's to deal with: it enrolls again with a token, or exits with
// equus.CertExpiredExitCode and says how to.
func (s *supervisor) enrolled() bool {
	certPath, keyPath := s.cfg.Agent.KeyPairFiles()
	cert, err := pki.LoadKeyPair(certPath, keyPath)
	return err == nil && time.Now().Before(cert.Leaf.NotAfter)
}

// client returns an HTTP client for helen's agents' port: helen recognised
// as the agent recognises it, the agent's certificate presented, HTTP/1.1
// by ALPN. The certificate is read from its files for every client, so a
// sync presents the one the agent last renewed. Each connection goes to
// the first of the agent's helens, in a random order, that answers
// (dialAny): they all serve the same bundle and releases.
func (s *supervisor) client(ctx context.Context) (*http.Client, error) {
	certPath, keyPath := s.cfg.Agent.KeyPairFiles()
	cert, err := pki.LoadKeyPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	trust, err := s.resolveTrust(ctx)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := pki.ClientConfig(trust, "", &cert, []string{"http/1.1"})
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Transport: &http.Transport{
			DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialAny(ctx, s.cfg.Agent.Helens, func(ctx context.Context, addr string) (net.Conn, error) {
					d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: handshakeTimeout}, Config: tlsCfg}
					ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
					defer cancel()
					return d.DialContext(ctx, "tcp", addr)
				})
			},
		},
		// Everything stage0 fetches is on helen: no redirects elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// resolveTrust returns how helen is recognised, as the agent recognises
// it (see equus.ResolveTrust), resolved once, at the first helen that
// answers, and then kept.
func (s *supervisor) resolveTrust(ctx context.Context) (pki.Trust, error) {
	if s.trust != nil {
		return *s.trust, nil
	}
	var t pki.Trust
	for _, addr := range shuffled(s.cfg.Agent.Helens) {
		var err error
		if t, err = equus.ResolveTrust(ctx, s.cfg.Agent.Trust(), addr, ""); err != nil {
			s.log.Warn("helen's CA not resolved", "helen", addr, "err", err)
			continue
		}
		s.trust = &t
		return t, nil
	}
	return t, errors.New("helen's CA: no helen answered")
}

// url returns the address of path on helen's agents' port. Its host is
// the first helen's, for the request's Host line: the connection goes to
// whichever answers first (client).
func (s *supervisor) url(path string) string {
	return "https://" + s.cfg.Agent.Helens[0] + path
}

// handshakeTimeout bounds a connection to one helen, its TLS handshake
// included, before stage0 tries the next.
const handshakeTimeout = 15 * time.Second

// dialAny returns the connection dial makes to the first of addrs, in a
// random order, that it connects to, or every address's error.
func dialAny(ctx context.Context, addrs []string, dial func(context.Context, string) (net.Conn, error)) (net.Conn, error) {
	var errs []error
	for _, addr := range shuffled(addrs) {
		c, err := dial(ctx, addr)
		if err == nil {
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// shuffled returns the addresses in a random order.
func shuffled(addrs []string) []string {
	out := slices.Clone(addrs)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// syncBundle installs helen's check bundle into DATA/checks and reports
// whether it changed.
func (s *supervisor) syncBundle(ctx context.Context, client *http.Client) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := get(ctx, client, s.url("/v1/bundle"))
	if err != nil {
		return false, fmt.Errorf("check bundle: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		s.log.Debug("helen serves no check bundle")
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("check bundle: %s", status(resp))
	}
	sum := resp.Header.Get("X-Equus-Sha256")
	if sum == "" {
		return false, errors.New("check bundle: helen sent no X-Equus-Sha256")
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, update.MaxBundle+1))
	if err != nil {
		return false, fmt.Errorf("check bundle: %w", err)
	}
	dest := equus.BundleDir(s.cfg.Agent.DataDir)
	before, _ := os.Readlink(dest)
	if err := update.InstallBundle(data, sum, dest, s.cfg.UpdateKey); err != nil {
		return false, err
	}
	after, _ := os.Readlink(dest)
	if before == after {
		return false, nil
	}
	if s.cfg.UpdateKey == nil {
		s.log.Warn("check bundle installed on helen's word: with no --update-key, whoever can write helen's check directory runs code here",
			"sha256", sum, "dir", dest)
	} else {
		s.log.Info("check bundle installed, its manifest signed by the update key", "sha256", sum, "dir", dest, "key", fmt.Sprintf("%X", s.cfg.UpdateKey.ID()))
	}
	return true, nil
}

// fetchOffer asks helen which version it offers this platform.
func (s *supervisor) fetchOffer(ctx context.Context, client *http.Client) (update.Offer, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := get(ctx, client, s.url("/v1/update?os="+runtime.GOOS+"&arch="+runtime.GOARCH))
	if err != nil {
		return update.Offer{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return update.Offer{}, errNoOffer
	default:
		return update.Offer{}, errors.New(status(resp))
	}
	var o update.Offer
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxOffer)).Decode(&o); err != nil {
		return o, fmt.Errorf("bad offer: %w", err)
	}
	if o.OS != runtime.GOOS || o.Arch != runtime.GOARCH {
		return o, fmt.Errorf("offer is for %s/%s, not %s/%s", o.OS, o.Arch, runtime.GOOS, runtime.GOARCH)
	}
	if !strings.HasPrefix(o.URL, "/") || strings.HasPrefix(o.URL, "//") {
		return o, fmt.Errorf("offer URL %q is not a path on helen", o.URL)
	}
	return o, nil
}

func get(ctx context.Context, client *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return client.Do(req)
}

// status describes a response that is not the one expected, with helen's
// error message when it sent one.
func status(resp *http.Response) string {
	var e struct {
		Error string `json:"error"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return resp.Status + ": " + e.Error
	}
	return resp.Status
}
