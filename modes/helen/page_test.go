package helen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"
)

// serveAdmin serves h on the admin socket of a data directory of its own,
// as a stand-in for helen, and returns the directory.
func serveAdmin(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, server.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return dir
}

// TestAdminReplyTooLarge: a reply over maxAdminReply is an error that says
// so, not a cut body decoded; one of exactly maxAdminReply bytes is read.
func TestAdminReplyTooLarge(t *testing.T) {
	dir := serveAdmin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("cursor") == "exact" {
			io.WriteString(w, "["+strings.Repeat(" ", maxAdminReply-2)+"]")
			return
		}
		// Well past what any client reads: until the client hangs up.
		io.WriteString(w, "[")
		chunk := []byte(strings.Repeat(" ", 64<<10))
		for range (256 << 20) / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	data := "--data=" + dir
	for _, cmd := range [][]string{{"status", data}, {"agents", data}, {"history", data, "web-1"}, {"events", data}, {"schedule", "list", data}} {
		out, code := helenCLI(t, cmd...)
		if want := fmt.Sprintf("reply larger than %d bytes", maxAdminReply); code != 1 || !strings.Contains(out, want) {
			t.Errorf("helen %s: exit %d, printed %q; want 1 and %q", strings.Join(cmd, " "), code, out, want)
		}
	}
	a, err := dialAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	var views []monitor.StatusView
	if err := a.do(t.Context(), http.MethodGet, "/v1/status?cursor=exact", nil, &views); err != nil || len(views) != 0 {
		t.Errorf("a reply of exactly %d bytes: %v, %v", maxAdminReply, views, err)
	}
}

// TestInProcessReplyBound: the client of the API served in process (the
// helen commands' with helen stopped) refuses a reply over maxAdminReply
// as the socket's does, and the handler's writes past the bound fail, so
// that what it keeps is bounded too.
func TestInProcessReplyBound(t *testing.T) {
	var kept int
	var werr error
	ac := inProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `</v1/x?cursor=c>; rel="next"`)
		if r.URL.Query().Get("cursor") == "exact" {
			io.WriteString(w, "["+strings.Repeat(" ", maxAdminReply-2)+"]")
			return
		}
		io.WriteString(w, "[")
		chunk := []byte(strings.Repeat(" ", 64<<10))
		kept, werr = 1, nil
		for range (64 << 20) / len(chunk) {
			n, err := w.Write(chunk)
			kept += n
			if err != nil {
				werr = err
				return
			}
		}
	}))
	var views []monitor.StatusView
	err := ac.do(t.Context(), http.MethodGet, "/v1/status", nil, &views)
	if !errors.Is(err, errReplyTooLarge) {
		t.Errorf("a reply over %d bytes: %v, want errReplyTooLarge", maxAdminReply, err)
	}
	if werr == nil || kept != maxAdminReply+1 {
		t.Errorf("the handler wrote %d bytes, the last write said %v; want %d and an error", kept, werr, maxAdminReply+1)
	}
	h, err := ac.send(t.Context(), http.MethodGet, "/v1/status?cursor=exact", nil, &views)
	if err != nil || len(views) != 0 || web.ParseNext(h.Get("Link")) != "/v1/x?cursor=c" {
		t.Errorf("a reply of exactly %d bytes: %v, %v, Link %q", maxAdminReply, views, err, h.Get("Link"))
	}
}
