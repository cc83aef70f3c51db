package wire

import (
	"context"
	"errors"
	"math"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// handCaller is the baseline the Caller is measured against: the
// bookkeeping that helen's session did by hand, a call with a buffered
// channel of one result in a map by id, with helen's logging, metrics and
// writer left out.
type handCaller struct {
	mu      sync.Mutex
	next    int32
	pending map[int32]*handCall
	done    chan struct{}
}

type handCall struct {
	id   int32
	name string
	sent time.Time
	ch   chan Message
}

func (s *handCaller) nextIDLocked() (int32, bool) {
	if len(s.pending) >= math.MaxInt32-1 {
		return 0, false
	}
	for {
		if s.next == math.MaxInt32 {
			s.next = 0
		}
		s.next++
		if _, busy := s.pending[s.next]; !busy {
			return s.next, true
		}
	}
}

func (s *handCaller) begin(check string) (*handCall, error) {
	c := &handCall{name: check, ch: make(chan Message, 1)}
	s.mu.Lock()
	id, ok := s.nextIDLocked()
	if ok {
		c.id = id
		s.pending[id] = c
	}
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("too many checks outstanding")
	}
	c.sent = time.Now()
	return c, nil
}

func (s *handCaller) deliver(m Message) bool {
	s.mu.Lock()
	c, ok := s.pending[m.ID]
	if ok && c.name == m.Name {
		delete(s.pending, m.ID)
	}
	s.mu.Unlock()
	if !ok || c.name != m.Name {
		return false
	}
	_ = time.Since(c.sent) // helen's round-trip metric
	c.ch <- m
	return true
}

func (s *handCaller) await(ctx context.Context, c *handCall) (Message, error) {
	defer s.forget(c)
	select {
	case m := <-c.ch:
		return m, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	case <-s.done:
		return Message{}, errors.New("closed")
	}
}

func (s *handCaller) forget(c *handCall) {
	s.mu.Lock()
	if s.pending[c.id] == c {
		delete(s.pending, c.id)
	}
	s.mu.Unlock()
}

// A round trip as a session makes it: number a check, deliver its result,
// await it. The check itself is built on both sides and not sent.
type roundTripper interface {
	roundTrip(ctx context.Context, blob []byte) error
}

type callerRT struct{ cl *Caller }

func (r callerRT) roundTrip(ctx context.Context, blob []byte) error {
	c, err := r.cl.Begin("equus.ping")
	if err != nil {
		return err
	}
	m := Check(c.Name(), c.ID(), nil)
	if _, err := r.cl.Deliver(Result(m.ID, m.Name, blob)); err != nil {
		return err
	}
	_ = time.Since(c.Sent())
	_, err = r.cl.Await(ctx, c)
	return err
}

type handRT struct{ s *handCaller }

func (r handRT) roundTrip(ctx context.Context, blob []byte) error {
	c, err := r.s.begin("equus.ping")
	if err != nil {
		return err
	}
	m := Check(c.name, c.id, nil)
	if !r.s.deliver(Result(m.ID, m.Name, blob)) {
		return errors.New("dropped")
	}
	_, err = r.s.await(ctx, c)
	return err
}

// implementations returns each side with held calls outstanding (never
// answered), as a busy session has them.
func implementations(held int) []struct {
	name string
	rt   roundTripper
} {
	cl := &Caller{}
	hc := &handCaller{pending: map[int32]*handCall{}, done: make(chan struct{})}
	for range held {
		cl.Begin("held")
		hc.begin("held")
	}
	return []struct {
		name string
		rt   roundTripper
	}{{"caller", callerRT{cl}}, {"by-hand", handRT{hc}}}
}

// BenchmarkCaller compares the Caller's round trip with the bookkeeping
// done by hand, alone and with 1000 calls outstanding, serially and from
// every P at once.
func BenchmarkCaller(b *testing.B) {
	blob := []byte(`{"status":"ok","message":"pong"}`)
	for _, held := range []int{0, 1000} {
		for _, impl := range implementations(held) {
			b.Run(impl.name+"/held-"+strconv.Itoa(held), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if err := impl.rt.roundTrip(ctx, blob); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(impl.name+"/held-"+strconv.Itoa(held)+"/parallel", func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := impl.rt.roundTrip(ctx, blob); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// The Caller allocates no more for a round trip than the bookkeeping by
// hand, in count and in bytes.
func TestCallerAllocs(t *testing.T) {
	blob := []byte("r")
	ctx := context.Background()
	impls := implementations(0)
	measure := func(rt roundTripper) (allocs float64, bytes uint64) {
		run := func() {
			if err := rt.roundTrip(ctx, blob); err != nil {
				t.Fatal(err)
			}
		}
		// Warm the map past its first growth on both sides.
		for range 100 {
			run()
		}
		allocs = testing.AllocsPerRun(1000, run)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 10000
		for range runs {
			run()
		}
		runtime.ReadMemStats(&after)
		return allocs, (after.TotalAlloc - before.TotalAlloc) / runs
	}
	ca, cb := measure(impls[0].rt)
	ha, hb := measure(impls[1].rt)
	t.Logf("a round trip: Caller %v allocations, %d bytes; by hand %v allocations, %d bytes", ca, cb, ha, hb)
	if ca > ha || cb > hb {
		t.Errorf("Caller: %v allocations, %d bytes a round trip; by hand %v, %d", ca, cb, ha, hb)
	}
}
