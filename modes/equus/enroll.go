package equus

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/equus-monitoring/equus/pki"
)

// ErrTokenRefused is returned, wrapped, when helen refuses an enrollment:
// trying again with the same token would not help.
var ErrTokenRefused = errors.New("equus: enrollment refused")

// enrollPath is helen's enrollment endpoint on the agents' port.
const enrollPath = "/v1/enroll"

// maxEnrollResponse bounds what is read of helen's answer; a real one is a
// few KiB.
const maxEnrollResponse = 256 << 10

// enrollTimeout bounds an enrollment or a renewal request.
const enrollTimeout = 30 * time.Second

// enroll asks helen for a certificate for cfg.Name with cfg.Token and
// writes it, its new key and helen's CA to the data directory. It returns
// the name helen gave the agent. A refusal wraps ErrTokenRefused; any other
// error (helen unreachable, a server error) is worth retrying.
func enroll(ctx context.Context, cfg Config, h helenAddr, trust pki.Trust) (string, error) {
	csrPEM, keyPEM, err := pki.NewCSR(cfg.Name)
	if err != nil {
		return "", fmt.Errorf("enroll: %w", err)
	}
	tlsCfg, err := agentTLS(trust, nil, "http/1.1", cfg.Clock)
	if err != nil {
		return "", fmt.Errorf("enroll: %w", err)
	}
	tlsCfg.ServerName = h.serverName
	resp, state, err := postPKI(ctx, h.dial, enrollPath, tlsCfg, pki.EnrollRequest{Token: cfg.Token, CSR: string(csrPEM)})
	var refused *refusal
	if errors.As(err, &refused) && permanent(refused.status) {
		err = fmt.Errorf("%w: %w", ErrTokenRefused, err)
	}
	if err != nil {
		return "", fmt.Errorf("enroll at %s: %w", h, err)
	}
	cert, err := checkIssued(resp, keyPEM, state)
	if err != nil {
		return "", fmt.Errorf("enroll at %s: %w", h, err)
	}
	// The certificate goes last: its presence is what says "enrolled", so
	// a crash in between leaves an agent that enrolls again; and an agent
	// enrolling again over an expired certificate is never left with a
	// certificate and a key that do not go together.
	if err := pki.WritePEMFile(filepath.Join(cfg.DataDir, caFile), []byte(resp.CA), 0o644); err != nil {
		return "", fmt.Errorf("enroll: %w", err)
	}
	if err := pki.ReplaceKeyPair(filepath.Join(cfg.DataDir, certFile), filepath.Join(cfg.DataDir, keyFile), []byte(resp.Cert), keyPEM); err != nil {
		return "", fmt.Errorf("enroll: %w", err)
	}
	return cert.Leaf.Subject.CommonName, nil
}

// refusal is helen's answer to an enrollment or a renewal other than 200.
type refusal struct {
	status int
	msg    string
}

func (r *refusal) Error() string { return r.msg }

// postPKI sends an enrollment or renewal request to path on helen's
// agents' port and returns helen's answer to a 200, along with the TLS
// state of the connection it came on. Any other answer is a *refusal.
func postPKI(ctx context.Context, addr, path string, tlsCfg *tls.Config, req any) (pki.EnrollResponse, *tls.ConnectionState, error) {
	var out pki.EnrollResponse
	body, err := json.Marshal(req)
	if err != nil {
		return out, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, enrollTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return out, nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	tr := &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(hreq)
	if err != nil {
		return out, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxEnrollResponse))
	if err != nil {
		return out, nil, fmt.Errorf("read answer: %w", err)
	}
	jsonErr := json.Unmarshal(data, &out)
	if resp.StatusCode != http.StatusOK {
		msg := out.Error
		if jsonErr != nil || msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return out, nil, &refusal{status: resp.StatusCode, msg: fmt.Sprintf("helen answered %s: %s", resp.Status, msg)}
	}
	if jsonErr != nil {
		return out, nil, fmt.Errorf("bad answer: %w", jsonErr)
	}
	return out, resp.TLS, nil
}

// permanent reports whether an HTTP status refuses the request for good.
func permanent(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

// checkIssued checks helen's answer: a certificate for the new key, signed
// by the CA that answered, which is the CA the connection was verified by.
func checkIssued(resp pki.EnrollResponse, keyPEM []byte, state *tls.ConnectionState) (tls.Certificate, error) {
	cert, err := tls.X509KeyPair([]byte(resp.Cert), keyPEM)
	if err != nil {
		return cert, fmt.Errorf("issued certificate: %w", err)
	}
	cas, err := pki.ParseCertsPEM([]byte(resp.CA))
	if err != nil {
		return cert, fmt.Errorf("helen's CA: %w", err)
	}
	if state == nil || len(state.VerifiedChains) == 0 {
		return cert, errors.New("no verified TLS connection")
	}
	chain := state.VerifiedChains[0]
	root := chain[len(chain)-1]
	if !root.Equal(cas[0]) {
		return cert, errors.New("the CA helen sent is not the CA its connection was verified by")
	}
	if cert.Leaf == nil {
		return cert, errors.New("issued certificate: no leaf")
	}
	if err := cert.Leaf.CheckSignatureFrom(cas[0]); err != nil {
		return cert, fmt.Errorf("issued certificate not signed by helen's CA: %w", err)
	}
	return cert, nil
}
