package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Bounds of the HTTP receivers (webhook, Alertmanager).
const (
	// DefaultTimeout bounds an attempt whose receiver sets no Timeout:
	// connecting, the TLS handshake, the request and reading the answer.
	DefaultTimeout = 10 * time.Second
	// MaxResponse is the most bytes of a response body read: past it the
	// connection is closed, and the attempt judged by its status alone.
	MaxResponse = 64 << 10
	// MaxBody is the most bytes a body (a template's output) may have.
	MaxBody = 256 << 10
	// maxRedirects is how many redirects to the same origin are followed.
	maxRedirects = 3
	// maxIdlePerHost is how many idle connections to a receiver are kept
	// for the next deliveries.
	maxIdlePerHost = 16
)

// newHTTPClient returns the client of an HTTP receiver: TLS verified
// against roots (nil: the system's), redirects followed only to the same
// origin (scheme, host and port) with the method kept, and no cookies.
func newHTTPClient(roots *x509.CertPool) *http.Client {
	dialer := &net.Dialer{Timeout: DefaultTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   DefaultTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: DefaultTimeout,
	}
	return &http.Client{Transport: tr, CheckRedirect: sameOrigin}
}

// errRedirect is a redirect not followed.
var errRedirect = errors.New("redirect not followed")

// sameOrigin follows a redirect only to the first request's origin, and
// only one that keeps the method (307, 308): a webhook redirected to
// another host could be a trap for its signature and body, and a POST
// turned into a GET delivers nothing.
func sameOrigin(req *http.Request, via []*http.Request) error {
	first := via[0]
	switch {
	case len(via) > maxRedirects:
		return fmt.Errorf("%w: more than %d", errRedirect, maxRedirects)
	case req.URL.Scheme != first.URL.Scheme || req.URL.Host != first.URL.Host:
		return fmt.Errorf("%w: to another origin, %s", errRedirect, redact(req.URL))
	case req.Method != first.Method:
		return fmt.Errorf("%w: to %s %s", errRedirect, req.Method, redact(req.URL))
	}
	return nil
}

// redact returns u without its user info and query, which may hold a
// token.
func redact(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.Fragment = nil, "", ""
	return v.String()
}

// checkURL reports what keeps raw from being a receiver's address: it must
// be an absolute http or https URL with a host.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bad URL %q: want http:// or https:// and a host", redact(u))
	}
	return u, nil
}

// post sends body to u with the headers, and judges the response: a 2xx
// succeeded; 408, 425, 429 and 5xx failed for now; any other status, and
// a redirect not followed, failed for good; the network failed for now.
// It reads at most MaxResponse bytes of the body.
func post(ctx context.Context, c *http.Client, u string, body []byte, header http.Header) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", permanent(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(err, errRedirect) {
			return "", permanent(err)
		}
		return "", err
	}
	defer resp.Body.Close()
	// Read the rest up to the bound so that the connection can be
	// reused; keep only the start for the answer.
	p := &prefix{max: MaxAnswer}
	_, _ = io.Copy(p, io.LimitReader(resp.Body, MaxResponse))
	ans := answer(resp.Proto+" "+resp.Status, p.buf)
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		// The receiver took it; a body cut short or broken off changes
		// nothing.
		return ans, nil
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests || code >= 500:
		return ans, fmt.Errorf("%s", resp.Status)
	default:
		return ans, permanent(fmt.Errorf("%s", resp.Status))
	}
}
