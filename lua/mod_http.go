package lua

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"
)

func init() { register("http", openHTTP) }

const (
	defaultHTTPTimeout = 10 * time.Second
	defaultMaxBody     = 1 << 20
	maxMaxBody         = 64 << 20
	maxCAFile          = 1 << 20
)

// httpAPI is the http module: requests over HTTP and HTTPS, with TLS
// certificates always verified.
//
// Both functions take an options table: timeout_ms (default 10000),
// headers (a table of name = value), max_body (the bytes of the body kept,
// default 1 MiB), ca_file (a PEM file of the CAs to trust instead of the
// system's) and follow_redirects (default true). They return {status,
// headers, body, truncated, latency_ms}, where headers has lower-case names
// (values of a repeated header joined with ", "), truncated reports whether
// the body was longer than max_body, and latency_ms runs from the request
// to the end of the body kept; or nil and an error when no response came.
var httpAPI = map[string]glua.LGFunction{
	"get":  httpGet,
	"post": httpPost,
}

func openHTTP(*Env) glua.LGFunction {
	return func(L *glua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), httpAPI))
		return 1
	}
}

// httpGet is http.get(url, opts) -> response, or nil, err.
func httpGet(L *glua.LState) int {
	return httpDo(L, http.MethodGet, L.CheckString(1), nil, 2)
}

// httpPost is http.post(url, body, opts) -> response, or nil, err. Give
// the body's type in opts.headers["Content-Type"].
func httpPost(L *glua.LState) int {
	return httpDo(L, http.MethodPost, L.CheckString(1), strings.NewReader(L.CheckString(2)), 3)
}

// httpOptions are the options of a request, from the table at argument n.
type httpOptions struct {
	timeout   time.Duration
	maxBody   int64
	headers   http.Header
	caFile    string
	redirects bool
}

func checkHTTPOptions(L *glua.LState, n int) httpOptions {
	o := httpOptions{
		timeout:   time.Duration(optField(L, n, "timeout_ms", float64(defaultHTTPTimeout/time.Millisecond)) * float64(time.Millisecond)),
		maxBody:   int64(optField(L, n, "max_body", defaultMaxBody)),
		headers:   http.Header{},
		redirects: true,
	}
	if o.timeout <= 0 {
		L.ArgError(n, "timeout_ms must be positive")
	}
	if o.maxBody < 0 || o.maxBody > maxMaxBody {
		L.ArgError(n, fmt.Sprintf("max_body must be from 0 to %d", maxMaxBody))
	}
	opts, ok := L.Get(n).(*glua.LTable)
	if !ok {
		return o
	}
	switch v := opts.RawGetString("headers").(type) {
	case *glua.LNilType:
	case *glua.LTable:
		v.ForEach(func(k, val glua.LValue) {
			ks, kok := k.(glua.LString)
			if !kok || (val.Type() != glua.LTString && val.Type() != glua.LTNumber) {
				L.ArgError(n, "headers must map names to strings")
			}
			o.headers.Add(string(ks), val.String())
		})
	default:
		L.ArgError(n, "headers must be a table")
	}
	switch v := opts.RawGetString("ca_file").(type) {
	case *glua.LNilType:
	case glua.LString:
		o.caFile = string(v)
	default:
		L.ArgError(n, "ca_file must be a string")
	}
	switch v := opts.RawGetString("follow_redirects").(type) {
	case *glua.LNilType:
	case glua.LBool:
		o.redirects = bool(v)
	default:
		L.ArgError(n, "follow_redirects must be a boolean")
	}
	return o
}

// httpDo makes the request and pushes its response, or nil and an error.
func httpDo(L *glua.LState, method, rawURL string, body io.Reader, optsArg int) int {
	o := checkHTTPOptions(L, optsArg)
	u, err := url.Parse(rawURL)
	if err == nil && u.Scheme != "http" && u.Scheme != "https" {
		err = errors.New("the scheme must be http or https")
	}
	if err != nil {
		return returnFailure(L, method+" "+rawURL, err)
	}
	client, err := httpClient(o)
	if err != nil {
		return returnFailure(L, method+" "+rawURL, err)
	}
	ctx, cancel := context.WithTimeout(callContext(L), o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return returnFailure(L, method+" "+rawURL, err)
	}
	req.Header = o.headers
	start := time.Now()
	defer client.CloseIdleConnections()
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // whose text does not repeat the URL
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no response within %v", o.timeout)
		}
		return returnFailure(L, method+" "+rawURL, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, o.maxBody+1))
	if err != nil {
		return returnFailure(L, method+" "+rawURL+": body", err)
	}
	latency := msSince(start)
	truncated := int64(len(data)) > o.maxBody
	if truncated {
		data = data[:o.maxBody]
	}
	headers := L.CreateTable(0, len(res.Header))
	for name, values := range res.Header {
		headers.RawSetString(strings.ToLower(name), glua.LString(strings.Join(values, ", ")))
	}
	L.Push(newRecord(L, map[string]any{
		"status": res.StatusCode, "headers": headers, "body": string(data),
		"truncated": truncated, "latency_ms": latency,
	}))
	return 1
}

// httpClient returns a client for one request. Connections are not kept
// alive: a check measures a fresh request each time, and leaves nothing
// open behind it.
func httpClient(o httpOptions) (*http.Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.caFile != "" {
		pool, err := loadCAFile(o.caFile)
		if err != nil {
			return nil, err
		}
		tlsConf.RootCAs = pool
	}
	c := &http.Client{Transport: &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		TLSClientConfig:   tlsConf,
		DisableKeepAlives: true,
		ForceAttemptHTTP2: true,
	}}
	if !o.redirects {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c, nil
}

// loadCAFile reads a pool of CA certificates from a PEM file.
func loadCAFile(name string) (*x509.CertPool, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, maxCAFile))
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate", name)
	}
	return pool, nil
}
