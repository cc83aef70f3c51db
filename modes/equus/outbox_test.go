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
