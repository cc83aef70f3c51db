package helen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"
)

// handleReload serves POST /reload {"name": AGENT} on the admin socket.
func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	var req struct{ Name string }
	if !decode(w, r, &req) {
		return
	}
	if err := s.Reload(r.Context(), req.Name); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrNotConnected) {
			code = http.StatusNotFound
		}
		httpError(w, code, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"reloading": req.Name})
}

func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:      "reload",
		Usage:     "tell a connected agent to reload: it syncs the check bundle (and, under stage0, the binary) and reconnects",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{dataFlag()},
		Action: func(c *cli.Context) error {
			name := c.Args().First()
			ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
			defer cancel()
			err := withHelen(c, func(a *adminClient) error {
				var out map[string]string
				return a.do(ctx, http.MethodPost, "/reload", map[string]string{"name": name}, &out)
			}, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "reload sent to %s\n", name)
			return nil
		},
	}
}
