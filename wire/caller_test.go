package wire

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// callerWith returns a Caller whose ids go up to maxID (0: math.MaxInt32),
// whose counter last handed out next, and that holds outstanding calls,
// named "held", with the ids given.
func callerWith(maxID, next int32, outstanding ...int32) *Caller {
	cl := &Caller{maxID: maxID, next: next, pending: map[int32]*Call{}, closed: make(chan struct{})}
	for _, id := range outstanding {
		cl.pending[id] = &Call{id: id, name: "held", done: make(chan struct{})}
	}
	return cl
}

func TestCallerIDs(t *testing.T) {
	const max = math.MaxInt32
	refused := int32(-1) // in want: Begin returns ErrTooManyCalls
	for _, tc := range []struct {
		name        string
		maxID, next int32
		outstanding []int32
		want        []int32 // the ids of successive Begins
	}{
		{"from-1", 0, 0, nil, []int32{1, 2, 3}},
		{"skip-outstanding", 0, 0, []int32{1, 3, 4}, []int32{2, 5, 6}},
		{"wrap-at-max-int32", 0, max - 2, nil, []int32{max - 1, max, 1, 2}},
		{"wrap-skips-outstanding", 0, max - 1, []int32{1, 2, max - 5}, []int32{max, 3, 4}},
		{"max-int32-outstanding", 0, max - 2, []int32{max}, []int32{max - 1, 1}},
		{"counter-at-max-int32", 0, max, nil, []int32{1, 2}},
		{"skip-to-last-free", 5, 5, []int32{1, 2, 3}, []int32{4, refused}},
		// One short of the ids there are, as MaxCalls says.
		{"full-one-short", 4, 0, []int32{1, 2}, []int32{3, refused, refused}},
		{"full-at-once", 4, 0, []int32{2, 3, 4}, []int32{refused}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := callerWith(tc.maxID, tc.next, tc.outstanding...)
			var got []int32
			for range tc.want {
				c, err := cl.Begin("x")
				switch {
				case errors.Is(err, ErrTooManyCalls) && c == nil:
					got = append(got, refused)
				case err != nil:
					t.Fatalf("Begin: %v", err)
				default:
					got = append(got, c.ID())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ids %v; want %v", got, tc.want)
			}
			if n := len(cl.pending); n != len(tc.outstanding)+countIDs(tc.want) {
				t.Errorf("%d calls outstanding; want %d", n, len(tc.outstanding)+countIDs(tc.want))
			}
		})
	}
}

func countIDs(ids []int32) int {
	n := 0
	for _, id := range ids {
		if id > 0 {
			n++
		}
	}
	return n
}

// A refused Begin leaves the counter where it was: the next id is the one
// after the last handed out.
func TestCallerFullThenFree(t *testing.T) {
	cl := callerWith(4, 0)
	var calls []*Call
	for range 3 {
		c, err := cl.Begin("x")
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
	}
	if _, err := cl.Begin("x"); !errors.Is(err, ErrTooManyCalls) {
		t.Fatalf("Begin with the table full: %v; want ErrTooManyCalls", err)
	}
	cl.Forget(calls[0]) // frees id 1
	c, err := cl.Begin("x")
	if err != nil || c.ID() != 4 {
		t.Fatalf("Begin after a Forget: %v, %v; want id 4", c, err)
	}
	if _, err := cl.Begin("x"); !errors.Is(err, ErrTooManyCalls) {
		t.Fatalf("Begin with the table full again: %v; want ErrTooManyCalls", err)
	}
	cl.Forget(calls[1]) // frees id 2; the counter wraps past 4, 1 is free
	if c, err := cl.Begin("x"); err != nil || c.ID() != 1 {
		t.Fatalf("Begin after the wrap: %v, %v; want id 1", c, err)
	}
}

func TestCallerDeliver(t *testing.T) {
	type step struct {
		op   string // begin NAME, deliver ID NAME, forget ID, await ID, cancel ID
		want string // for deliver: ok, no-call or mismatch; for await: the result's name, or the error
	}
	for _, tc := range []struct {
		name  string
		maxID int32
		steps []step
	}{
		{"delivered", 0, []step{
			{"begin a", "1"}, {"deliver 1 a", "ok"}, {"await 1", "a"},
		}},
		{"delivered-before-await", 0, []step{
			{"begin a", "1"}, {"begin b", "2"}, {"deliver 2 b", "ok"}, {"deliver 1 a", "ok"}, {"await 1", "a"}, {"await 2", "b"},
		}},
		{"second-result-dropped", 0, []step{
			{"begin a", "1"}, {"deliver 1 a", "ok"}, {"deliver 1 a", "no-call"}, {"await 1", "a"},
		}},
		{"unknown-id", 0, []step{
			{"begin a", "1"}, {"deliver 999 a", "no-call"}, {"deliver 0 a", "no-call"}, {"deliver -1 a", "no-call"}, {"deliver 1 a", "ok"},
		}},
		{"name-mismatch-keeps-the-call", 0, []step{
			{"begin a", "1"}, {"deliver 1 b", "mismatch"}, {"deliver 1 a", "ok"}, {"await 1", "a"},
		}},
		{"late-after-forget", 0, []step{
			{"begin a", "1"}, {"forget 1", ""}, {"deliver 1 a", "no-call"},
		}},
		{"late-after-ctx", 0, []step{
			{"begin a", "1"}, {"cancel 1", "context canceled"}, {"deliver 1 a", "no-call"},
		}},
		{"late-after-await", 0, []step{
			{"begin a", "1"}, {"deliver 1 a", "ok"}, {"await 1", "a"}, {"deliver 1 a", "no-call"},
		}},
		// After a wrap the id belongs to another check: the late result
		// of the old one does not match it.
		{"late-for-a-reused-id", 3, []step{
			{"begin a", "1"}, {"forget 1", ""}, {"begin b", "2"}, {"begin c", "3"}, {"forget 2", ""}, {"begin d", "1"},
			{"deliver 1 a", "mismatch"}, {"deliver 1 d", "ok"}, {"await 1", "d"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := callerWith(tc.maxID, 0)
			calls := map[int32]*Call{}
			for _, s := range tc.steps {
				var op, name string
				var id int32
				fmt.Sscan(s.op, &op)
				switch op {
				case "begin":
					fmt.Sscan(s.op, &op, &name)
					c, err := cl.Begin(name)
					if err != nil || strconv.Itoa(int(c.ID())) != s.want || c.Name() != name {
						t.Fatalf("%s: %v, %v; want id %s", s.op, c, err, s.want)
					}
					calls[c.ID()] = c
					continue
				case "forget", "await", "cancel":
					fmt.Sscan(s.op, &op, &id)
				case "deliver":
					fmt.Sscan(s.op, &op, &id, &name)
				}
				c := calls[id]
				var got string
				switch op {
				case "deliver":
					m := Result(id, name, []byte(name))
					got = deliverOutcome(t, cl, m, c)
				case "forget":
					cl.Forget(c)
				case "await", "cancel":
					ctx, cancel := context.WithCancel(context.Background())
					if op == "cancel" {
						cancel()
					}
					m, err := cl.Await(ctx, c)
					cancel()
					got = m.Name
					if err != nil {
						got = err.Error()
					} else if string(m.Blob) != m.Name || m.ID != id {
						t.Errorf("%s: got %+v", s.op, m)
					}
				}
				if got != s.want {
					t.Fatalf("%s: %s; want %s", s.op, got, s.want)
				}
			}
		})
	}
}

// deliverOutcome delivers m and names the outcome, checking that the call
// returned is the one it should be.
func deliverOutcome(t *testing.T, cl *Caller, m Message, outstanding *Call) string {
	t.Helper()
	c, err := cl.Deliver(m)
	switch {
	case err == nil && c != nil && c.ID() == m.ID && c.Name() == m.Name:
		return "ok"
	case errors.Is(err, ErrNoCall) && c == nil:
		return "no-call"
	case errors.Is(err, ErrNameMismatch) && c != nil && c.ID() == m.ID && c.Name() != m.Name:
		if cl.pending[m.ID] != c {
			t.Errorf("deliver %d %s: the call whose name does not match is no longer outstanding", m.ID, m.Name)
		}
		return "mismatch"
	}
	t.Fatalf("deliver %d %s: %v, %v", m.ID, m.Name, c, err)
	return ""
}

func TestCallerSent(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	cl := &Caller{Now: func() time.Time { return at }}
	c, err := cl.Begin("a")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Sent().Equal(at) {
		t.Fatalf("Sent = %v; want the Caller's clock, %v", c.Sent(), at)
	}
	if c, _ := cl.Deliver(Result(c.ID(), "a", nil)); !c.Sent().Equal(at) {
		t.Fatalf("the delivered call's Sent = %v; want %v", c.Sent(), at)
	}
}

func TestCallerCloseFailsEveryWaiter(t *testing.T) {
	errLink := errors.New("link closed")
	for _, tc := range []struct {
		name    string
		give    error
		want    error
		waiters int
	}{
		{"error-given", errLink, errLink, 50},
		{"nil-is-ErrClosed", nil, ErrClosed, 50},
		{"no-waiters", errLink, errLink, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cl Caller // the zero Caller is ready
			calls := make([]*Call, tc.waiters)
			for i := range calls {
				c, err := cl.Begin("w" + strconv.Itoa(i))
				if err != nil {
					t.Fatal(err)
				}
				calls[i] = c
			}
			errs := make(chan error, tc.waiters)
			var wg sync.WaitGroup
			for _, c := range calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// The deadline only turns a Close that fails nobody
					// into an error instead of a hung test.
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					_, err := cl.Await(ctx, c)
					errs <- err
				}()
			}
			cl.Close(tc.give)
			cl.Close(errors.New("a later close")) // does not change the error
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != tc.want {
					t.Errorf("Await after Close: %v; want %v", err, tc.want)
				}
			}
			if c, err := cl.Begin("after"); err != tc.want || c != nil {
				t.Errorf("Begin after Close: %v, %v; want %v", c, err, tc.want)
			}
			if len(cl.pending) != 0 {
				t.Errorf("%d calls outstanding after every Await returned", len(cl.pending))
			}
			// A result that comes after is dropped like any late one.
			if len(calls) > 0 {
				if _, err := cl.Deliver(Result(calls[0].ID(), calls[0].Name(), nil)); !errors.Is(err, ErrNoCall) {
					t.Errorf("Deliver after Close and Await: %v; want ErrNoCall", err)
				}
			}
		})
	}
}

// Close before any Begin: the zero Caller is closed too.
func TestCallerCloseUnused(t *testing.T) {
	var cl Caller
	cl.Close(nil)
	if _, err := cl.Begin("a"); err != ErrClosed {
		t.Fatalf("Begin on a closed Caller: %v; want ErrClosed", err)
	}
}

// A result delivered to a call that Close fails while it waits may win or
// lose, but the waiter gets exactly one of the two.
func TestCallerCloseWhileDelivering(t *testing.T) {
	var cl Caller
	c, err := cl.Begin("a")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); cl.Deliver(Result(c.ID(), "a", []byte("r"))) }()
	cl.Close(nil)
	m, err := cl.Await(context.Background(), c)
	<-done
	switch {
	case err == nil && string(m.Blob) == "r":
	case err == ErrClosed:
	default:
		t.Fatalf("Await: %+v, %v; want the result or ErrClosed", m, err)
	}
}

// Many callers and one reader, as a session has them, with an agent that
// answers in any order: each call gets its own result, no id is handed out
// again while its call is outstanding, and nothing stays outstanding at
// the end. In a small id space the counter wraps many times; with Forget,
// the results of forgotten calls are dropped. Run it with -race.
func TestCallerConcurrent(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxID       int32
		forgetEvery int // forget every nth call instead of awaiting it; 0: never
	}{
		// 16 callers hold at most 16 ids of the 39 usable.
		{"wrapping", 40, 0},
		// The counter never wraps, so a late result cannot meet a new
		// call of its id.
		{"forgetting", 0, 10},
	} {
		t.Run(tc.name, func(t *testing.T) { testConcurrent(t, tc.maxID, tc.forgetEvery) })
	}
}

func testConcurrent(t *testing.T, maxID int32, forgetEvery int) {
	const callers, each = 16, 200
	cl := &Caller{maxID: maxID}
	link := make(chan Message, 64) // checks, to the agent
	back := make(chan Message, 64) // results, to the reader

	// live holds the ids between the Begin that returned them and the
	// Deliver of their result, within which the Caller holds them
	// outstanding.
	var lmu sync.Mutex
	live := map[int32]bool{}
	var reused []int32
	take := func(id int32) {
		lmu.Lock()
		defer lmu.Unlock()
		if live[id] {
			reused = append(reused, id)
		}
		live[id] = true
	}
	drop := func(id int32) {
		lmu.Lock()
		defer lmu.Unlock()
		delete(live, id)
	}

	// The agent answers each check from a goroutine of its own, so in
	// any order.
	agent := make(chan struct{})
	go func() {
		defer close(agent)
		var answers sync.WaitGroup
		for m := range link {
			answers.Add(1)
			go func() {
				defer answers.Done()
				back <- Result(m.ID, m.Name, m.Blob)
			}()
		}
		answers.Wait()
		close(back)
	}()

	// The reader delivers; a result for a forgotten call is dropped.
	dropped := 0
	reader := make(chan struct{})
	go func() {
		defer close(reader)
		for m := range back {
			drop(m.ID)
			_, err := cl.Deliver(m)
			switch {
			case errors.Is(err, ErrNoCall):
				dropped++
			case err != nil:
				t.Errorf("Deliver %d %s: %v", m.ID, m.Name, err)
			}
		}
	}()

	var wg sync.WaitGroup
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("c%d", g)
			for i := range each {
				c, err := cl.Begin(name)
				if err != nil {
					t.Error(err)
					return
				}
				take(c.ID())
				args := []byte(strconv.Itoa(i))
				link <- Check(c.Name(), c.ID(), args)
				if forgetEvery > 0 && i%forgetEvery == forgetEvery-1 {
					// As a session does when its send fails.
					cl.Forget(c)
					continue
				}
				m, err := cl.Await(context.Background(), c)
				if err != nil || m.ID != c.ID() || m.Name != name || string(m.Blob) != string(args) {
					t.Errorf("call %s %d: %+v, %v", name, i, m, err)
				}
			}
		}()
	}
	wg.Wait()
	close(link)
	<-agent
	<-reader
	forgotten := 0
	if forgetEvery > 0 {
		forgotten = callers * each / forgetEvery
	}
	// A forgotten call's result is dropped unless it came before the
	// Forget.
	if dropped > forgotten {
		t.Errorf("%d results dropped for %d calls forgotten", dropped, forgotten)
	}
	if len(reused) > 0 {
		t.Errorf("ids handed out again while outstanding: %v", reused)
	}
	if len(cl.pending) != 0 {
		t.Errorf("%d calls outstanding at the end", len(cl.pending))
	}
	if maxID > 0 && cl.next > maxID {
		t.Errorf("the counter reached %d, past the largest id %d", cl.next, maxID)
	}
}
