package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/wire"
)

func TestReload(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()

	if err := h.srv.Reload(context.Background(), "web-2"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("reload of an agent not connected: %v, want ErrNotConnected", err)
	}
	if err := h.srv.Reload(context.Background(), "web-1"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	poll(t, "the agent to get reload", func() bool {
		return a.Received()[len(a.Received())-1].Kind == wire.KindReload
	})
}

func TestReloadEndpoint(t *testing.T) {
	h := startHelen(t, Config{})
	a := startAgent(t, h, "web-1", behavior{})
	a.Ready()
	tests := []struct {
		name, agent, body string
		code              int
	}{
		{"connected", "web-1", "", http.StatusOK},
		{"not-connected", "db-1", "", http.StatusNotFound},
		{"a-body", "web-1", `{"name":`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			path := "/v1/agents/" + tt.agent + "/reload"
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(tt.body))
			h.srv.adminHandler().ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("POST %s %s: %d %s, want %d", path, tt.body, rec.Code, rec.Body, tt.code)
			}
		})
	}
}
