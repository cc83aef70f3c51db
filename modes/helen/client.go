package helen

import (
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
	"time"

	"github.com/equus-monitoring/equus/state"
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
	path := filepath.Join(dataDir, socketFile)
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("admin socket %s: %w (run as helen's user)", path, err)
		}
		return nil, fmt.Errorf("%w (no admin socket at %s)", errNotRunning, path)
	}
	c.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &adminClient{hc: &http.Client{Transport: tr}, path: path}, nil
}

func (a *adminClient) close() { a.hc.CloseIdleConnections() }

// do sends a request to helen and decodes its JSON answer into out.
func (a *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://helen"+path, body)
	if err != nil {
		return err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("helen: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("helen: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("helen: %s", resp.Status)
	}
	return json.Unmarshal(data, out)
}

func (a *adminClient) history(ctx context.Context, agent, check string, limit int) ([]state.Result, error) {
	q := url.Values{"agent": {agent}, "check": {check}, "limit": {fmt.Sprint(limit)}}
	var rs []state.Result
	err := a.do(ctx, http.MethodGet, "/history?"+q.Encode(), nil, &rs)
	return rs, err
}
