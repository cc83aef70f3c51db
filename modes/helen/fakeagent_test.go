package helen

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

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/wire"
)

// behavior is how a fake agent answers.
type behavior struct {
	Version string                   // said in hello; default 1.0.0
	Delay   map[string]time.Duration // how long a check takes, by name
	Silent  map[string]bool          // checks never answered, by name
	Mute    bool                     // answer nothing at all
	Forget  bool                     // keep no record of checks after the first (benchmarks)
	// Answer, when set, makes the result blob of every check but
	// helen's own (equus.*) instead of the status and tag of its args.
	Answer func(m wire.Message) []byte
}

// fakeAgent is an equus over real TLS that answers checks by its
// behavior. A check's result has the status its args name in "status"
// (ok by default) and a message of the check name and the args' "tag";
// or it is the args' "doc", a result document sent as it is.
type fakeAgent struct {
	t    testing.TB
	name string
	beh  behavior
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

// startAgent connects an agent named name to h and says hello. It does
// not wait for helen to accept it: see ready.
func startAgent(t testing.TB, h *testHelen, name string, beh behavior) *fakeAgent {
	t.Helper()
	return startAgentWith(t, h, name, agentCert(t, h.srv, name), beh)
}

// startAgentWith is startAgent with the certificate given.
func startAgentWith(t testing.TB, h *testHelen, name string, cert *tls.Certificate, beh behavior) *fakeAgent {
	t.Helper()
	if beh.Version == "" {
		beh.Version = "1.0.0"
	}
	c, err := dialTLS(t, h, cert, []string{wire.ALPN})
	if err != nil {
		t.Fatalf("agent %s: dial: %v", name, err)
	}
	a := &fakeAgent{
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
	t.Cleanup(a.close)
	return a
}

// close disconnects the agent and waits for its goroutines.
func (a *fakeAgent) close() {
	a.closeOnce.Do(func() {
		close(a.stop)
		a.conn.Close()
	})
	a.wg.Wait()
}

func (a *fakeAgent) readLoop() {
	defer a.wg.Done()
	defer close(a.readEnd)
	r := wire.NewReader(a.conn)
	for {
		m, err := r.Read()
		if err != nil {
			a.mu.Lock()
			a.readErr = err
			a.mu.Unlock()
			return
		}
		a.mu.Lock()
		if a.beh.Forget && len(a.checks) > 0 {
			a.mu.Unlock()
			if m.Kind == wire.KindCheck {
				a.send(wire.Result(m.ID, m.Name, pong))
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
func (a *fakeAgent) answer(m wire.Message) {
	var args struct {
		Status, Tag string
		Doc         json.RawMessage
	}
	json.Unmarshal(m.Blob, &args)
	if args.Doc != nil {
		a.mu.Lock()
		delete(a.outstanding, m.ID)
		a.mu.Unlock()
		a.send(wire.Result(m.ID, m.Name, args.Doc))
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
	a.mu.Lock()
	delete(a.outstanding, m.ID)
	a.mu.Unlock()
	a.send(wire.Result(m.ID, m.Name, blob))
}

// send queues a message to helen.
func (a *fakeAgent) send(m wire.Message) {
	select {
	case a.out <- m:
	case <-a.stop:
	}
}

// writeLoop writes what is queued, flushing when the queue is empty.
func (a *fakeAgent) writeLoop() {
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

// ready waits until helen has accepted the agent: it sends equus.info
// first on every connection it accepts.
func (a *fakeAgent) ready() {
	a.t.Helper()
	poll(a.t, a.name+" to get equus.info", func() bool { return a.countChecks("equus.info") > 0 })
	if first := a.firstCheck(); first.Name != "equus.info" {
		a.t.Fatalf("agent %s: first check is %s, want equus.info", a.name, first.Name)
	}
}

func (a *fakeAgent) firstCheck() wire.Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.checks) == 0 {
		return wire.Message{}
	}
	return a.checks[0]
}

// countChecks returns how many checks named name the agent received.
func (a *fakeAgent) countChecks(name string) int {
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

// closed reports whether helen closed the connection (or close was called).
func (a *fakeAgent) closed() bool {
	select {
	case <-a.readEnd:
		return true
	default:
		return false
	}
}

// waitClosed waits until helen closes the connection and returns the
// messages received and how the reading ended.
func (a *fakeAgent) waitClosed() ([]wire.Message, error) {
	a.t.Helper()
	select {
	case <-a.readEnd:
	case <-time.After(waitFor):
		a.t.Fatalf("agent %s: helen did not close the connection", a.name)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]wire.Message(nil), a.received...), a.readErr
}

// lastMessage returns the last message received, if any.
func lastMessage(ms []wire.Message) wire.Message {
	if len(ms) == 0 {
		return wire.Message{}
	}
	return ms[len(ms)-1]
}

// endedCleanly reports whether a read ended at the end of the stream.
func endedCleanly(err error) bool { return errors.Is(err, io.EOF) }
