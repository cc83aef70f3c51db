package wire

import (
	"context"
	"errors"
	"testing"
)

// callModel is what a Caller should do, said another way: the next id is
// the first one not outstanding in the cyclic order after the last handed
// out, and none is handed out while MaxCalls (here maxID-1) are
// outstanding.
type callModel struct {
	maxID       int32
	last        int32
	outstanding map[int32]int // id -> index in calls
	closed      bool
}

func (m *callModel) nextID() (int32, bool) {
	if len(m.outstanding) >= int(m.maxID)-1 {
		return 0, false
	}
	for k := int32(1); k <= m.maxID; k++ {
		id := (m.last+k-1)%m.maxID + 1
		if _, busy := m.outstanding[id]; !busy {
			return id, true
		}
	}
	panic("no free id below the bound")
}

// modelCall is one call begun, as the model sees it.
type modelCall struct {
	c         *Call
	delivered []byte // the blob of its result, once delivered
}

// FuzzCaller holds a Caller, in an id space small enough to wrap, to the
// model through any sequence of Begin, Deliver, Forget, Await and Close:
// the same ids, the same outcome for every result, and the same calls
// outstanding.
func FuzzCaller(f *testing.F) {
	f.Add(byte(4), []byte{0, 0, 0, 0, 0})
	f.Add(byte(3), []byte{0, 'a', 2, 0, 0, 'b', 1, 1, 'a', 1, 1, 'b', 3, 1, 0, 'c'})
	f.Add(byte(5), []byte{0, 1, 0, 2, 1, 1, 2, 1, 2, 2, 0, 3, 0, 4, 0, 5, 4, 0, 0, 3, 1})
	f.Fuzz(func(t *testing.T, space byte, ops []byte) {
		if len(ops) > 4096 {
			return
		}
		maxID := int32(space%16) + 2 // 2 to 17 ids, so the table fills
		cl := &Caller{maxID: maxID}
		model := &callModel{maxID: maxID, outstanding: map[int32]int{}}
		var calls []*modelCall
		canceled, cancel := context.WithCancel(context.Background())
		cancel()
		arg := func(i int) byte {
			if i < len(ops) {
				return ops[i]
			}
			return 0
		}
		names := []string{"a", "b", "c"}
		for i := 0; i < len(ops); i += 3 {
			op, x, y := ops[i]%5, arg(i+1), arg(i+2)
			switch op {
			case 0: // Begin
				name := names[int(x)%len(names)]
				c, err := cl.Begin(name)
				want, ok := model.nextID()
				switch {
				case model.closed:
					if err != ErrClosed {
						t.Fatalf("Begin after Close: %v, %v", c, err)
					}
				case !ok:
					if !errors.Is(err, ErrTooManyCalls) {
						t.Fatalf("Begin with %d of %d ids outstanding: %v, %v; want ErrTooManyCalls", len(model.outstanding), maxID, c, err)
					}
				case err != nil || c.ID() != want || c.Name() != name:
					t.Fatalf("Begin: %v, %v; want id %d", c, err, want)
				default:
					model.last = want
					model.outstanding[want] = len(calls)
					calls = append(calls, &modelCall{c: c})
				}
			case 1: // Deliver
				id := int32(x)%(maxID+2) - 1 // -1 to maxID
				name := names[int(y)%len(names)]
				blob := []byte{x, y}
				c, err := cl.Deliver(Result(id, name, blob))
				k, ok := model.outstanding[id]
				switch {
				case !ok:
					if !errors.Is(err, ErrNoCall) || c != nil {
						t.Fatalf("Deliver %d %s with no call: %v, %v", id, name, c, err)
					}
				case calls[k].c.Name() != name:
					if !errors.Is(err, ErrNameMismatch) || c != calls[k].c {
						t.Fatalf("Deliver %d %s to %s: %v, %v; want ErrNameMismatch", id, name, calls[k].c.Name(), c, err)
					}
				default:
					if err != nil || c != calls[k].c {
						t.Fatalf("Deliver %d %s: %v, %v; want its call", id, name, c, err)
					}
					calls[k].delivered = blob
					delete(model.outstanding, id)
				}
			case 2, 3: // Forget, or Await that cannot block
				if len(calls) == 0 {
					continue
				}
				k := int(x) % len(calls)
				mc := calls[k]
				if op == 2 {
					cl.Forget(mc.c)
				} else {
					m, err := cl.Await(canceled, mc.c)
					switch {
					case err == nil:
						if mc.delivered == nil || string(m.Blob) != string(mc.delivered) || m.ID != mc.c.ID() {
							t.Fatalf("Await of call %d: %+v; delivered %q", mc.c.ID(), m, mc.delivered)
						}
					case errors.Is(err, context.Canceled), model.closed && err == ErrClosed:
					default:
						t.Fatalf("Await: %v", err)
					}
				}
				if j, ok := model.outstanding[mc.c.ID()]; ok && j == k {
					delete(model.outstanding, mc.c.ID())
				}
			case 4: // Close
				cl.Close(nil)
				model.closed = true
			}
			if len(cl.pending) != len(model.outstanding) {
				t.Fatalf("%d calls outstanding; the model has %d", len(cl.pending), len(model.outstanding))
			}
			for id, k := range model.outstanding {
				if cl.pending[id] != calls[k].c {
					t.Fatalf("id %d is not outstanding for the call the model has", id)
				}
			}
		}
	})
}
