package helen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/agentname"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
)

// errNotRunning means no helen serves the data directory's admin socket.
var errNotRunning = errors.New("helen is not running")

// adminClient talks to a running helen through its admin socket.
type adminClient struct {
	hc   *http.Client
	path string
}

// dialAdmin connects to the admin socket in dataDir.
func dialAdmin(dataDir string) (*adminClient, error) {
	path := filepath.Join(dataDir, server.SocketFile)
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("admin socket %s: %w (run as helen's user)", path, err)
		}
		return nil, fmt.Errorf("%w (no admin socket at %s)", errNotRunning, path)
	}
	return &adminClient{hc: newClient(&socketTransport{path: path, first: c}), path: path}, nil
}

// socketTransport sends each request on a connection of its own to the
// admin socket at path, in the caller's goroutine, and closes it with
// the answer's body. A helen command sends one request or a few, one
// after another; net/http's Transport would start two goroutines per
// connection, and with them threads, which cost a `helen run` a fifth
// of its CPU (tools/equus-load/cli-cost.sh). The request's context
// bounds the whole exchange, the body's reads too.
type socketTransport struct {
	path  string
	mu    sync.Mutex
	first net.Conn // the connection dialAdmin opened, for the first request
}

func (t *socketTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	c := t.take()
	if c == nil {
		var d net.Dialer
		var err error
		if c, err = d.DialContext(ctx, "unix", t.path); err != nil {
			return nil, err
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	// A cancelled context ends the exchange at once: a deadline in the
	// past fails the read or write under way.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	out := req.Clone(ctx)
	out.Close = true // helen closes its end after the answer
	if err := out.Write(c); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return fail(err)
	}
	resp.Body = &connBody{body: resp.Body, c: c, ctx: ctx, stop: stop}
	return resp, nil
}

func (t *socketTransport) take() net.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.first
	t.first = nil
	return c
}

// CloseIdleConnections closes the connection dialAdmin opened, if no
// request took it.
func (t *socketTransport) CloseIdleConnections() {
	if c := t.take(); c != nil {
		c.Close()
	}
}

// connBody is an answer's body, which closes its connection when closed.
type connBody struct {
	body io.ReadCloser
	c    net.Conn
	ctx  context.Context
	stop func() bool
}

func (b *connBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err != nil && err != io.EOF && b.ctx.Err() != nil {
		err = b.ctx.Err()
	}
	return n, err
}

func (b *connBody) Close() error {
	b.stop()
	b.body.Close()
	return b.c.Close()
}

// newClient is an HTTP client of helen over tr. It follows no redirect:
// helen's API sends none, and a path it cleaned would send a request to
// another endpoint than the one asked.
func newClient(tr http.RoundTripper) *http.Client {
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// agentPath is the path of the API of the agent name, followed by rest
// ("/revoke"). An empty name, which no path can hold, is refused as helen
// refuses a bad name.
func agentPath(name, rest string) (string, error) {
	if name == "" {
		return "", agentname.Check(name)
	}
	return "/v1/agents/" + pathSegment(name) + rest, nil
}

// pathSegment is name escaped as a segment of a path, a leading dot too:
// "." and ".." reach helen as names (which it refuses) rather than being
// cleaned out of the path.
func pathSegment(name string) string {
	seg := url.PathEscape(name)
	if strings.HasPrefix(seg, ".") {
		seg = "%2E" + seg[1:]
	}
	return seg
}

func (a *adminClient) close() { a.hc.CloseIdleConnections() }

// inProcess returns a client of the API h serves in this process: the
// helen commands' own, when no helen runs.
func inProcess(h http.Handler) *adminClient {
	return &adminClient{hc: newClient(handlerTransport{h})}
}

// handlerTransport is a RoundTripper that has a handler serve each
// request, in the caller's goroutine and with its context, as an
// http.Server would. It keeps at most maxAdminReply and one byte of an
// answer: the client refuses a longer one, as it refuses one from the
// socket, and the handler's writes past it fail.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The request as a server reads it: a body always there, the URI
	// it was sent with.
	r := req.Clone(req.Context())
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RequestURI = req.URL.RequestURI()
	w := &replyWriter{header: http.Header{}, max: maxAdminReply + 1}
	t.h.ServeHTTP(w, r)
	r.Body.Close()
	w.WriteHeader(http.StatusOK) // for a handler that wrote nothing
	return &http.Response{
		Status:     fmt.Sprintf("%d %s", w.code, http.StatusText(w.code)),
		StatusCode: w.code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.sent, ContentLength: int64(w.body.Len()),
		Body: io.NopCloser(&w.body), Request: req,
	}, nil
}

// replyWriter is the ResponseWriter of handlerTransport: the header as
// it was when the status was written, and up to max bytes of the body.
type replyWriter struct {
	header, sent http.Header
	code         int
	body         bytes.Buffer
	max          int
}

func (w *replyWriter) Header() http.Header { return w.header }

func (w *replyWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code, w.sent = code, w.header.Clone()
	}
}

func (w *replyWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if room := w.max - w.body.Len(); len(p) > room {
		w.body.Write(p[:room])
		return room, errReplyTooLarge
	}
	return w.body.Write(p)
}

// maxAdminReply is the most a helen command reads of one reply from the
// admin socket; a longer one is an error, never a cut body decoded. Every
// reply of helen fits: lists come in pages (page.go), and results are
// capped by the store (state.Cap).
const maxAdminReply = web.MaxReply

// errReplyTooLarge is a reply longer than maxAdminReply.
var errReplyTooLarge = fmt.Errorf("reply larger than %d bytes", maxAdminReply)

// do sends a request to helen and decodes its JSON answer into out.
func (a *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	_, err := a.send(ctx, method, path, in, out)
	return err
}

// send is do that also returns the answer's header.
func (a *adminClient) send(ctx context.Context, method, path string, in, out any) (http.Header, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://helen"+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("helen: %w", err)
	}
	defer resp.Body.Close()
	// One byte more than the limit tells a reply at the limit from a
	// longer one.
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminReply+1))
	if err != nil {
		return nil, fmt.Errorf("helen: %w", err)
	}
	if len(data) > maxAdminReply {
		return nil, fmt.Errorf("helen %s %s: %w", method, req.URL.Path, errReplyTooLarge)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("helen: %s", resp.Status)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("helen %s %s: %w", method, req.URL.Path, err)
	}
	return resp.Header, nil
}

// listPages reads a list from path (a path and query of the API) page by
// page, following each page's Link to the next, until it has want items
// (every item, when want <= 0) or a page is the last. Each request asks
// for what is still wanted, up to a full page.
func listPages[T any](ctx context.Context, a *adminClient, path string, want int) ([][]T, error) {
	var pages [][]T
	got := 0
	asked := map[string]bool{}
	for path != "" {
		next, err := withLimit(path, want-got)
		if err != nil {
			return nil, err
		}
		if asked[next] {
			return nil, fmt.Errorf("helen %s: the next page is one read already", next)
		}
		asked[next] = true
		var items []T
		h, err := a.send(ctx, http.MethodGet, next, nil, &items)
		if err != nil {
			return nil, err
		}
		pages = append(pages, items)
		got += len(items)
		if want > 0 && got >= want {
			break
		}
		path = web.ParseNext(h.Get("Link"))
	}
	return pages, nil
}

// withLimit sets the limit of a list request to left, or to a full page
// when nothing bounds what is wanted (left <= 0 or more than a page).
func withLimit(path string, left int) (string, error) {
	u, err := url.Parse(path)
	if err != nil {
		return "", fmt.Errorf("helen: next page %q: %w", path, err)
	}
	q := u.Query()
	if left <= 0 || left > web.MaxPageLimit {
		left = web.MaxPageLimit
	}
	q.Set("limit", fmt.Sprint(left))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// firstOf returns the first n items of pages, all of them when n <= 0.
func firstOf[T any](pages [][]T, n int) []T {
	all := slices.Concat(pages...)
	if all == nil {
		all = []T{}
	}
	if n > 0 && len(all) > n {
		all = all[:n]
	}
	return all
}
