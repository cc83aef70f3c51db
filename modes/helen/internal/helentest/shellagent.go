package helentest

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/equus-monitoring/equus/internal/shellwire"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// The names of the shell sessions' extension.
const (
	ShellALPN  = shellwire.ALPN
	ShellCheck = shellwire.CheckName
)

// ShellAgent is a fake agent that offers shell sessions: it answers
// equus.shell and dials helen's agents' port with ALPN equus-shell/1 and
// its certificate, as equus does, then runs serve on the connection.
type ShellAgent struct {
	*Agent
	cert  *tls.Certificate
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
	args  []json.RawMessage // of every equus.shell, in order
}

// ShellBehavior is how a fake shell agent answers equus.shell: the
// result, and what it does on its shell connection (nil: dial none).
type ShellBehavior struct {
	Refuse string                                              // a critical result with this message, and no connection
	Hello  func(id, secret string) shellwire.Frame             // the hello it sends (nil: the right one)
	Serve  func(t testing.TB, c net.Conn, args map[string]any) // the session, after the hello
	Caps   []string                                            // of equus.info (nil: shell)
}

// StartShellAgent starts a fake agent called name that offers shell
// sessions as sb says, and waits until helen accepted it.
func StartShellAgent(t testing.TB, h Helen, name string, sb ShellBehavior) *ShellAgent {
	t.Helper()
	sa := &ShellAgent{cert: AgentCert(t, h.CA(), name)}
	caps := sb.Caps
	if caps == nil {
		caps = []string{shellwire.Capability}
	}
	// As equus answers: its info as JSON in the message.
	msg, _ := json.Marshal(map[string]any{"version": "1.0.0", "capabilities": caps})
	info := result.Doc{Status: result.OK, Message: string(msg)}.Encode(wire.MaxBlob)
	beh := Behavior{Builtins: map[string]func(wire.Message) []byte{
		wire.InfoCheck: func(wire.Message) []byte { return info },
		ShellCheck: func(m wire.Message) []byte {
			sa.mu.Lock()
			sa.args = append(sa.args, json.RawMessage(slices.Clone(m.Blob)))
			sa.mu.Unlock()
			if sb.Refuse != "" {
				return result.Doc{Status: result.Critical, Message: sb.Refuse}.Encode(wire.MaxBlob)
			}
			var args map[string]any
			json.Unmarshal(m.Blob, &args)
			sa.wg.Add(1)
			go func() {
				defer sa.wg.Done()
				c, err := DialTLSTo(t, h, sa.cert, []string{ShellALPN})
				if err != nil {
					t.Errorf("shell connection: %v", err)
					return
				}
				sa.mu.Lock()
				sa.conns = append(sa.conns, c)
				sa.mu.Unlock()
				defer c.Close()
				hello := shellwire.NewHello(args["id"].(string), args["secret"].(string))
				if sb.Hello != nil {
					hello = sb.Hello(args["id"].(string), args["secret"].(string))
				}
				if err := shellwire.Write(c, hello); err != nil {
					t.Errorf("hello: %v", err)
					return
				}
				if sb.Serve != nil {
					sb.Serve(t, c, args)
				}
			}()
			return result.Doc{Status: result.OK, Message: "session started"}.Encode(wire.MaxBlob)
		},
	}}
	sa.Agent = StartAgentWithOn(t, h, name, sa.cert, beh)
	sa.Ready()
	t.Cleanup(sa.close)
	return sa
}

// close ends the agent's shell connections and waits for them.
func (sa *ShellAgent) close() {
	sa.mu.Lock()
	for _, c := range sa.conns {
		c.Close()
	}
	sa.mu.Unlock()
	sa.wg.Wait()
}

// EchoShell echoes its input as output until stdin closes, then exits 7;
// a resize it answers with "size COLSxROWS".
func EchoShell(t testing.TB, c net.Conn, _ map[string]any) {
	r := shellwire.NewReader(c)
	for {
		f, err := r.Read()
		if err != nil {
			return
		}
		switch f.Type {
		case shellwire.TypeStdin:
			shellwire.Write(c, shellwire.Frame{Type: shellwire.TypeStdout, Payload: f.Payload})
		case shellwire.TypeResize:
			cols, rows, _ := shellwire.ParseResize(f.Payload)
			shellwire.Write(c, shellwire.Frame{Type: shellwire.TypeStderr, Payload: fmt.Appendf(nil, "size %dx%d", cols, rows)})
		case shellwire.TypeStdinClosed:
			shellwire.Write(c, shellwire.Exit(shellwire.ExitMsg{Status: 7}))
			return
		}
	}
}
