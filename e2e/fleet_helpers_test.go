package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// A fleet is many agents in the test process that enroll with helen as
// equus does (a certificate request and a token, over HTTPS) and speak
// the wire protocol over mutual TLS, one connection each: a thousand
// agent processes would not fit the machines the tests run on.

// fleetCA returns helen's CA certificate, as helen wrote it in its data
// directory.
func fleetCA(t *testing.T, h *helen) pki.Trust {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.data, pki.CAFiles()[0]))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertsPEM(data)
	if err != nil || len(certs) == 0 {
		t.Fatalf("helen's CA: %v", err)
	}
	return pki.Trust{CA: certs[0]}
}

// enrollFleet enrolls agents named prefix-0000 up to n with one token of n
// uses, workers at a time, and returns their certificates by name.
func enrollFleet(t *testing.T, h *helen, prefix string, n, workers int) map[string]*tls.Certificate {
	t.Helper()
	trust := fleetCA(t, h)
	out := h.cli(t, "token", "--uses", strconv.Itoa(n), "--json")
	var tr tokenResponse
	if err := json.Unmarshal([]byte(out), &tr); err != nil || tr.Token == "" {
		t.Fatalf("helen token --json: %q: %v", out, err)
	}
	cfg, err := pki.ClientConfig(trust, "127.0.0.1", nil, []string{"http/1.1"})
	if err != nil {
		t.Fatal(err)
	}
	tr2 := &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: workers}
	defer tr2.CloseIdleConnections()
	hc := &http.Client{Transport: tr2, Timeout: 30 * time.Second}

	names := make(chan string)
	var mu sync.Mutex
	certs := map[string]*tls.Certificate{}
	var errs []error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				cert, err := enrollOne(hc, h.addr, tr.Token, name)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", name, err))
				} else {
					certs[name] = cert
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		names <- fmt.Sprintf("%s-%04d", prefix, i)
	}
	close(names)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d enrollments failed, the first: %v", len(errs), errs[0])
	}
	return certs
}

// enrollOne enrolls name as equus does: a key and certificate request of
// its own, sent with the token to /v1/enroll.
func enrollOne(hc *http.Client, addr, token, name string) (*tls.Certificate, error) {
	csr, key, err := pki.NewCSR(name)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(pki.EnrollRequest{Token: token, CSR: string(csr)})
	if err != nil {
		return nil, err
	}
	resp, err := hc.Post("https://"+addr+"/v1/enroll", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var er pki.EnrollResponse
	if err := json.NewDecoder(resp.Body).Decode(&er); err != nil {
		return nil, fmt.Errorf("%s: %v", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, er.Error)
	}
	cert, err := tls.X509KeyPair([]byte(er.Cert), key)
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

// fleetAgent is one agent of a fleet: it says hello and answers every
// check with status ok, a scheduled one (any check but equus.*) after
// delay, so that some are in flight when its link drops.
type fleetAgent struct {
	name  string
	conn  *tls.Conn
	delay time.Duration

	wmu sync.Mutex
	w   *wire.Writer

	stop    chan struct{}
	done    chan struct{} // closed when the reader ends
	pending sync.WaitGroup

	mu        sync.Mutex
	scheduled int // scheduled checks received
	info      bool
	muted     bool // answer nothing more
	status    result.Status
	err       error
}

var okDoc = result.Doc{Status: result.OK, Message: "fine", DurationMS: 0.1}.Encode(wire.MaxBlob)

// setStatus makes the agent answer its scheduled checks with status st
// from now ("": ok).
func (a *fleetAgent) setStatus(st result.Status) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status = st
}

// answerOf is the agent's result of check m.
func (a *fleetAgent) answerOf(m wire.Message) []byte {
	a.mu.Lock()
	st := a.status
	a.mu.Unlock()
	if st == "" || strings.HasPrefix(m.Name, "equus.") {
		return okDoc
	}
	return result.Doc{Status: st, Message: "said " + string(st), DurationMS: 0.1}.Encode(wire.MaxBlob)
}

// dialFleetAgent connects name to helen with cert.
func dialFleetAgent(ctx context.Context, trust pki.Trust, addr, name string, cert *tls.Certificate, delay time.Duration) (*fleetAgent, error) {
	cfg, err := pki.ClientConfig(trust, "127.0.0.1", cert, []string{wire.ALPN})
	if err != nil {
		return nil, err
	}
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	a := &fleetAgent{name: name, conn: c.(*tls.Conn), delay: delay, w: wire.NewWriter(c), stop: make(chan struct{}), done: make(chan struct{})}
	if err := a.send(wire.Hello(v100)); err != nil {
		c.Close()
		return nil, err
	}
	go a.read()
	return a, nil
}

func (a *fleetAgent) send(m wire.Message) error {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	if err := a.w.Write(m); err != nil {
		return err
	}
	return a.w.Flush()
}

func (a *fleetAgent) read() {
	defer close(a.done)
	r := wire.NewReader(a.conn)
	for {
		m, err := r.Read()
		if err != nil {
			a.mu.Lock()
			a.err = err
			a.mu.Unlock()
			return
		}
		if m.Kind != wire.KindCheck {
			continue
		}
		scheduled := !strings.HasPrefix(m.Name, "equus.")
		a.mu.Lock()
		a.info = a.info || m.Name == "equus.info"
		if scheduled {
			a.scheduled++
		}
		muted := a.muted
		a.mu.Unlock()
		if muted {
			continue
		}
		if !scheduled || a.delay == 0 {
			a.send(wire.Result(m.ID, m.Name, a.answerOf(m)))
			continue
		}
		a.pending.Add(1)
		go func() {
			defer a.pending.Done()
			t := time.NewTimer(a.delay)
			defer t.Stop()
			select {
			case <-t.C:
				if !a.isMuted() {
					a.send(wire.Result(m.ID, m.Name, a.answerOf(m)))
				}
			case <-a.stop:
			}
		}()
	}
}

// ready reports whether helen accepted the agent (it sends equus.info
// first) and ran a scheduled check on it.
func (a *fleetAgent) ready() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.info && a.scheduled > 0
}

// mute makes the agent answer nothing more, its link left open: a host
// frozen, or a network that drops everything without a reset.
func (a *fleetAgent) mute() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.muted = true
}

func (a *fleetAgent) isMuted() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.muted
}

// drop closes the agent's link at once, as a network gone, and waits for
// its goroutines.
func (a *fleetAgent) drop() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.conn.Close()
	<-a.done
	a.pending.Wait()
}

// connectFleet connects an agent for each of certs to h, 16 at a time,
// each answering its scheduled checks after delay, and drops them all when
// the test ends.
func connectFleet(t *testing.T, h *helen, certs map[string]*tls.Certificate, delay time.Duration) []*fleetAgent {
	t.Helper()
	trust := fleetCA(t, h)
	fleet := make([]*fleetAgent, 0, len(certs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var dialErr error
	names := make(chan string)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				a, err := dialFleetAgent(ctx, trust, h.addr, name, certs[name], delay)
				cancel()
				mu.Lock()
				if err != nil && dialErr == nil {
					dialErr = fmt.Errorf("%s: %w", name, err)
				}
				if a != nil {
					fleet = append(fleet, a)
				}
				mu.Unlock()
			}
		}()
	}
	for name := range certs {
		names <- name
	}
	close(names)
	wg.Wait()
	t.Cleanup(func() { eachAgent(fleet, (*fleetAgent).drop) })
	if dialErr != nil {
		t.Fatal(dialErr)
	}
	return fleet
}

// eachAgent calls f on every agent of fleet at once, and returns when
// all calls have.
func eachAgent(fleet []*fleetAgent, f func(*fleetAgent)) {
	var wg sync.WaitGroup
	for _, a := range fleet {
		wg.Add(1)
		go func() { defer wg.Done(); f(a) }()
	}
	wg.Wait()
}

// fleetReady waits until every agent of fleet ran its schedule.
func fleetReady(t *testing.T, fleet []*fleetAgent) {
	t.Helper()
	poll(t, "every agent to run its schedule", time.Minute, func() bool {
		for _, a := range fleet {
			if !a.ready() {
				return false
			}
		}
		return true
	})
}
