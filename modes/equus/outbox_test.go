package equus

import (
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/wire"
)

// hasRoom reports whether o's room channel is closed now.
func hasRoom(o *outbox) bool {
	select {
	case <-o.roomChan():
		return true
	default:
		return false
	}
}

func TestOutboxBounds(t *testing.T) {
	small := wire.Result(1, "x", []byte("{}"))
	big := wire.Result(2, "y", []byte(strings.Repeat("b", 1000)))
	for _, tc := range []struct {
		name     string
		maxMsgs  int
		maxBytes int64
		put      []wire.Message // the last one fills it
	}{
		{"count", 3, 1 << 20, []wire.Message{small, small, small}},
		{"bytes", 100, 2 * resultSize(big), []wire.Message{small, big, big}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbox(tc.maxMsgs, tc.maxBytes)
			for i, m := range tc.put {
				if !hasRoom(o) {
					t.Fatalf("full after %d results", i)
				}
				if !o.put(m) {
					t.Fatal("put refused before close")
				}
			}
			if hasRoom(o) {
				t.Fatal("room after the bound")
			}
			waiter := o.roomChan()
			// Taken is not sent: the batch still counts.
			batch := o.take(nil)
			if len(batch) != len(tc.put) || hasRoom(o) {
				t.Fatalf("take: %d results, room %v", len(batch), hasRoom(o))
			}
			o.sent(batch[len(batch)-1])
			select {
			case <-waiter:
			default:
				t.Fatal("a waiter is not woken when the writer makes room")
			}
			if n, b := o.counts(); n != len(tc.put)-1 || b <= 0 {
				t.Errorf("counts %d, %d", n, b)
			}
			o.put(small)
			if dropped := o.close(); dropped != 1 {
				t.Errorf("close dropped %d, want the one waiting", dropped)
			}
			if o.put(small) || !hasRoom(o) {
				t.Error("put after close kept, or no room")
			}
		})
	}
}

// handed reports whether the write was handed on to the writer.
func handed(o *outbox) bool {
	select {
	case <-o.ready:
		return true
	default:
		return false
	}
}

// TestOutboxWriteHolder: one holds the write at a time. A worker's
// result that finds no one writing is the worker's to write; what comes
// while it writes queues, and the worker hands it on to the writer; a
// result from the reader always goes to the writer; and a writer told to
// stop gets the write back from the worker that holds it.
func TestOutboxWriteHolder(t *testing.T) {
	r := func(id int32) wire.Message { return wire.Result(id, "x", []byte("{}")) }
	o := newOutbox(100, 1<<20)
	if ok, mine := o.putOrWrite(r(1)); !ok || !mine {
		t.Fatalf("idle outbox: putOrWrite = %v, %v; want the worker to write", ok, mine)
	}
	if ok, mine := o.putOrWrite(r(2)); !ok || mine {
		t.Fatalf("while a worker writes: putOrWrite = %v, %v; want it queued", ok, mine)
	}
	if handed(o) {
		t.Fatal("the writer was handed the write while a worker holds it")
	}
	o.sent(r(1))
	o.letGo()
	if !handed(o) {
		t.Fatal("the worker let go with a result queued, and the writer was not handed the write")
	}
	if b := o.take(nil); len(b) != 1 || b[0].ID != 2 {
		t.Fatalf("the writer took %v, want result 2", b)
	}
	o.sent(r(2))
	if ok, mine := o.putOrWrite(r(3)); !ok || mine {
		t.Fatal("while the writer holds the write, a worker's result must queue")
	}
	if o.idle() {
		t.Fatal("the writer let go of the write with a result queued")
	}
	o.take(nil)
	o.sent(r(3))
	if !o.idle() {
		t.Fatal("the writer, with nothing queued, kept the write")
	}

	// The reader's results go to the writer, even when no one writes.
	if !o.put(r(4)) || !handed(o) {
		t.Fatal("the reader's result did not go to the writer")
	}
	o.take(nil)
	o.sent(r(4))
	o.idle()

	// Stopping: the writer waits for the worker that writes.
	if _, mine := o.putOrWrite(r(5)); !mine {
		t.Fatal("idle outbox: the worker should write")
	}
	if !o.quit() {
		t.Fatal("quit with a worker writing should say the write is held")
	}
	o.sent(r(5))
	o.letGo()
	if !handed(o) {
		t.Fatal("the worker let go while the writer stops, and the writer did not get the write")
	}
	if _, mine := o.putOrWrite(r(6)); mine {
		t.Fatal("a worker took the write from a stopping writer")
	}
	if n := o.close(); n != 1 {
		t.Fatalf("close dropped %d, want the 1 queued", n)
	}
}
