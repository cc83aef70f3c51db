package helentest

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/internal/wait"
	"github.com/equus-monitoring/equus/pki"
	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// Behavior is how a fake agent answers.
type Behavior struct {
	Version string                   // said in hello; default 1.0.0
	Delay   map[string]time.Duration // how long a check takes, by name
	Silent  map[string]bool          // checks never answered, by name
	Mute    bool                     // answer nothing at all
	Forget  bool                     // keep no record of checks after the first (benchmarks)
	// Answer, when set, makes the result blob of every check but
	// helen's own (equus.*) instead of the status and tag of its args.
	Answer func(m wire.Message) []byte
	// Builtins, when set, answer helen's own checks (equus.*) of their
	// names with the blob they return.
	Builtins map[string]func(m wire.Message) []byte
}

// Agent is an equus over real TLS that answers checks by its
// Behavior. A check's result has the status its args name in "status"
// (ok by default) and a message of the check name and the args' "tag";
// or it is the args' "doc", a result document sent as it is.
type Agent struct {
	t    testing.TB
	name string
	beh  Behavior
	conn *tls.Conn
	w    *wire.Writer

	out     chan wire.Message
	stop    chan struct{} // closed by close: end the writer and the checks
	readEnd chan struct{} // closed when the reader ends: helen closed, or close
	wg      sync.WaitGroup

	mu             sync.Mutex
	checks         []wire.Message // every check received, in order
	outstanding    map[int32]bool
	maxOutstanding int
	dupIDs         []int32 // ids received while a check with that id was outstanding
	received       []wire.Message
	readErr        error
	closeOnce      sync.Once
}

// StartAgent connects an agent named name, with a certificate from ca, to
// the agents' port at addr and says hello. It does not wait for helen to
// accept it: see Ready. It is closed when the test ends.
func StartAgent(t testing.TB, addr string, ca *pki.CA, name string, beh Behavior) *Agent {
	t.Helper()
	return StartAgentWith(t, addr, ca, name, AgentCert(t, ca, name), beh)
}

// StartAgentWith is StartAgent with the certificate given.
func StartAgentWith(t testing.TB, addr string, ca *pki.CA, name string, cert *tls.Certificate, beh Behavior) *Agent {
	t.Helper()
	if beh.Version == "" {
		beh.Version = "1.0.0"
	}
	c, err := DialTLS(t, addr, ca, cert, []string{wire.ALPN})
	if err != nil {
		t.Fatalf("agent %s: dial: %v", name, err)
	}
	a := &Agent{
		t: t, name: name, beh: beh, conn: c, w: wire.NewWriter(c),
		out:         make(chan wire.Message, 256),
		stop:        make(chan struct{}),
		readEnd:     make(chan struct{}),
		outstanding: map[int32]bool{},
	}
	if err := a.w.Write(wire.Hello(beh.Version)); err != nil {
		t.Fatal(err)
	}
	if err := a.w.Flush(); err != nil {
		t.Fatalf("agent %s: hello: %v", name, err)
	}
	a.wg.Add(2)
	go a.readLoop()
	go a.writeLoop()
	t.Cleanup(a.Close)
	return a
}

// Close disconnects the agent and waits for its goroutines.
func (a *Agent) Close() {
	a.closeOnce.Do(func() {
		close(a.stop)
		a.conn.Close()
	})
	a.wg.Wait()
}

func (a *Agent) readLoop() {
	defer a.wg.Done()
	defer close(a.readEnd)
	r := wire.NewReader(a.conn)
	for {
		m, err := r.Read()
		if err != nil {
			a.mu.Lock()
			a.readErr = err
			a.mu.Unlock()
			// Helen ended the stream: hang up, as equus does, rather
			// than leave helen draining the connection for a second.
			a.conn.Close()
			return
		}
		a.mu.Lock()
		if a.beh.Forget && len(a.checks) > 0 {
			a.mu.Unlock()
			if m.Kind == wire.KindCheck {
				a.Send(wire.Result(m.ID, m.Name, pong))
			}
			continue
		}
		a.received = append(a.received, m)
		if m.Kind == wire.KindCheck {
			a.checks = append(a.checks, m)
			if a.outstanding[m.ID] {
				a.dupIDs = append(a.dupIDs, m.ID)
			}
			a.outstanding[m.ID] = true
			a.maxOutstanding = max(a.maxOutstanding, len(a.outstanding))
		}
		a.mu.Unlock()
		if m.Kind != wire.KindCheck || a.beh.Mute || a.beh.Silent[m.Name] {
			continue
		}
		if d := a.beh.Delay[m.Name]; d > 0 {
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
					a.answer(m)
				case <-a.stop:
				}
			}()
			continue
		}
		a.answer(m)
	}
}

// pong is the result of equus.ping, as equus sends it.
var pong = result.Doc{Status: result.OK, Message: "pong", DurationMS: 0.001}.Encode(wire.MaxBlob)

// answer queues the result of check m.
func (a *Agent) answer(m wire.Message) {
	var args struct {
		Status, Tag string
		Doc         json.RawMessage
	}
	json.Unmarshal(m.Blob, &args)
	if args.Doc != nil {
		a.mu.Lock()
		delete(a.outstanding, m.ID)
		a.mu.Unlock()
		a.Send(wire.Result(m.ID, m.Name, args.Doc))
		return
	}
	doc := result.Doc{Status: result.Status(args.Status), Message: m.Name, DurationMS: 0.1}
	if doc.Status == "" {
		doc.Status = result.OK
	}
	if args.Tag != "" {
		doc.Message += " " + args.Tag
	}
	blob := doc.Encode(wire.MaxBlob)
	if a.beh.Answer != nil && !strings.HasPrefix(m.Name, "equus.") {
		blob = a.beh.Answer(m)
	}
	if f := a.beh.Builtins[m.Name]; f != nil {
		blob = f(m)
	}
	a.mu.Lock()
	delete(a.outstanding, m.ID)
	a.mu.Unlock()
	a.Send(wire.Result(m.ID, m.Name, blob))
}

// Send queues a message to helen.
func (a *Agent) Send(m wire.Message) {
	select {
	case a.out <- m:
	case <-a.stop:
	}
}

// writeLoop writes what is queued, flushing when the queue is empty.
func (a *Agent) writeLoop() {
	defer a.wg.Done()
	for {
		var m wire.Message
		select {
		case m = <-a.out:
		case <-a.stop:
			return
		}
		for more := true; more; {
			if err := a.w.Write(m); err != nil {
				a.t.Errorf("agent %s: write %s: %v", a.name, m.Kind, err)
			}
			select {
			case m = <-a.out:
			default:
				more = false
			}
		}
		if err := a.w.Flush(); err != nil && !errors.Is(err, net.ErrClosed) {
			a.t.Logf("agent %s: flush: %v", a.name, err)
		}
	}
}

// Ready waits until helen has accepted the agent: it sends equus.info
// first on every connection it accepts.
func (a *Agent) Ready() {
	a.t.Helper()
	wait.Until(a.t, a.name+" to get equus.info", WaitFor, 5*time.Millisecond, func() bool { return a.CountChecks("equus.info") > 0 })
	if first := a.FirstCheck(); first.Name != "equus.info" {
		a.t.Fatalf("agent %s: first check is %s, want equus.info", a.name, first.Name)
	}
}

func (a *Agent) FirstCheck() wire.Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.checks) == 0 {
		return wire.Message{}
	}
	return a.checks[0]
}

// CountChecks returns how many checks named name the agent received.
func (a *Agent) CountChecks(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, m := range a.checks {
		if m.Name == name {
			n++
		}
	}
	return n
}

// Closed reports whether helen closed the connection (or close was called).
func (a *Agent) Closed() bool {
	select {
	case <-a.readEnd:
		return true
	default:
		return false
	}
}

// WaitClosed waits until helen closes the connection and returns the
// messages received and how the reading ended.
func (a *Agent) WaitClosed() ([]wire.Message, error) {
	a.t.Helper()
	select {
	case <-a.readEnd:
	case <-time.After(WaitFor):
		a.t.Fatalf("agent %s: helen did not close the connection", a.name)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]wire.Message(nil), a.received...), a.readErr
}

// LastMessage returns the last message received, if any.
func LastMessage(ms []wire.Message) wire.Message {
	if len(ms) == 0 {
		return wire.Message{}
	}
	return ms[len(ms)-1]
}

// EndedCleanly reports whether a read ended at the end of the stream.
func EndedCleanly(err error) bool { return errors.Is(err, io.EOF) }

// Received returns the messages the agent received, in order.
func (a *Agent) Received() []wire.Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]wire.Message(nil), a.received...)
}

// Checks returns the checks the agent received, in order.
func (a *Agent) Checks() []wire.Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]wire.Message(nil), a.checks...)
}

// Outstanding returns how many checks the agent has not answered yet.
func (a *Agent) Outstanding() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.outstanding)
}

// MaxOutstanding returns the most checks it had unanswered at once.
func (a *Agent) MaxOutstanding() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.maxOutstanding
}

// DupIDs returns the ids it received while a check with that id was
// outstanding: a helen that reuses an id too soon.
func (a *Agent) DupIDs() []int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int32(nil), a.dupIDs...)
}

// Name is the agent's name.
func (a *Agent) Name() string { return a.name }
