package equus

import (
	"log/slog"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/wire"
)

// logEnding writes the one line that says why a session ended and when
// the agent tries again, with what an operator can do about it.
func (a *agent) logEnding(log *slog.Logger, o outcome, wait time.Duration) {
	log = log.With("retry_in", wait.Round(time.Millisecond))
	switch o.end {
	case endUnreachable:
		log.Warn("cannot reach helen; is it running, and is --helen its agents' port?", "err", o.err)
	case endFailed:
		log.Warn("session with helen ended", "err", o.err, "checks", o.checks, "up", o.up.Round(time.Millisecond))
	case endError:
		a.logHelenError(log, o.message)
	case endReload:
		log.Error("helen asks for a reload right after hello: it offers a newer version of equus, and upgrading needs equus running under stage0")
	}
}

// logHelenError logs the error helen sent, saying what it means for this
// agent: the code is the first word of the message.
func (a *agent) logHelenError(log *slog.Logger, message string) {
	code, _, _ := strings.Cut(message, " ")
	switch wire.Code(code) {
	case wire.CodeShuttingDown:
		log.Info("helen is shutting down; reconnecting", "message", message)
	case wire.CodeNotAuthorized:
		fix := "to join again, remove the certificate and start the agent with a token made for its name (equus helen token --agent NAME)"
		if a.cfg.CertFile != "" {
			fix = "to join again, give it a new certificate (equus helen issue NAME)"
		}
		certPath, _ := a.cfg.KeyPairFiles()
		log.Error("helen refuses this agent's certificate: the agent was revoked, a later enrollment, renewal or helen issue replaced the certificate, "+
			"or it is from another helen's CA; "+fix,
			"message", message, "cert", certPath)
	case wire.CodeUnsupportedProtocolVersion:
		log.Error("helen does not speak this agent's protocol version; install a version of equus that matches helen's", "message", message)
	default:
		log.Error("helen sent an error, disconnecting", "message", message)
	}
}
