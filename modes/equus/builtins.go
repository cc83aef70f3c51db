package equus

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// builtinPrefix starts the names of the checks built into the agent; no
// Lua file can take such a name.
const builtinPrefix = "equus."

// builtinTimeout bounds a built-in check, which should take microseconds.
const builtinTimeout = 5 * time.Second

// isBuiltin reports whether name is in the agent's own namespace.
func isBuiltin(name string) bool { return strings.HasPrefix(name, builtinPrefix) }

// info is the message of equus.info.
type info struct {
	Version    string  `json:"version"`
	Protocol   int     `json:"protocol"`
	OS         string  `json:"os"`
	Arch       string  `json:"arch"`
	Hostname   string  `json:"hostname"`
	UptimeS    float64 `json:"uptime_s"`
	BundleHash string  `json:"bundle_hash"`
	// Capabilities lists what the agent takes beyond the checks, as
	// "shell"; absent when none, so that an agent that takes nothing
	// more answers what agents always have.
	Capabilities []string `json:"capabilities,omitempty"`
}

// checkEntry is one element of equus.checks's message.
type checkEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Error says why a check file did not load, so that an operator
	// listing the checks sees it.
	Error string `json:"error,omitempty"`
}

// builtins lists the built-in checks with their descriptions.
var builtins = []checkEntry{
	{Name: wire.PingCheck, Description: "answers pong: the agent is alive and its link to helen works"},
	{Name: wire.InfoCheck, Description: "agent version, protocol, OS, architecture, host name, uptime and check bundle hash"},
	{Name: wire.ChecksCheck, Description: "the names and descriptions of the loaded checks"},
}

// BuiltinChecks returns the names of the built-in checks, which every
// agent answers whatever its check library.
func BuiltinChecks() []string {
	names := make([]string, len(builtins))
	for i, b := range builtins {
		names[i] = b.Name
	}
	return names
}

// runBuiltin runs the built-in check name.
func (a *agent) runBuiltin(ctx context.Context, name string) result.Doc {
	ctx, cancel := context.WithTimeout(ctx, builtinTimeout)
	defer cancel()
	start := time.Now()
	doc := a.builtin(ctx, name)
	doc.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	return doc
}

func (a *agent) builtin(ctx context.Context, name string) result.Doc {
	if err := ctx.Err(); err != nil {
		return result.Unknownf("%s not run: %v", name, err)
	}
	switch name {
	case "equus.ping":
		return result.Doc{Status: result.OK, Message: "pong"}
	case "equus.info":
		host, _ := os.Hostname()
		return jsonDoc(info{
			Version:      a.cfg.Version,
			Protocol:     wire.Version,
			OS:           runtime.GOOS,
			Arch:         runtime.GOARCH,
			Hostname:     host,
			UptimeS:      time.Since(a.start).Truncate(time.Millisecond).Seconds(),
			BundleHash:   a.rt.BundleHash(),
			Capabilities: a.capabilities(),
		})
	case "equus.checks":
		list := append([]checkEntry(nil), builtins...)
		for _, c := range a.rt.Checks() {
			list = append(list, checkEntry{Name: c.Name, Description: c.Description, Error: c.Err})
		}
		return jsonDoc(list)
	}
	return result.Unknownf("no built-in check %s", name)
}

// jsonDoc returns an ok document whose message is v as JSON.
func jsonDoc(v any) result.Doc {
	b, err := json.Marshal(v)
	if err != nil {
		return result.Unknownf("encode: %v", err)
	}
	return result.Doc{Status: result.OK, Message: string(b)}
}

// capabilities returns what equus.info lists in capabilities.
func (a *agent) capabilities() []string {
	if a.shells != nil {
		return []string{shellwire.Capability}
	}
	return nil
}
