package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// Run sends check to a with args (a JSON object, or empty) and waits up
// to timeout for the result, which is on disk when Run returns it. No
// answer in time is a result of status unknown, kept as well.
//
// The result of equus.ping is not kept: it probes the connection, as the
// pings helen sends idle agents do, and a disk commit for each would
// bound pings by the store's group-commit delay and fill the history with
// pongs.
func (m *Monitor) Run(ctx context.Context, a Agent, check string, args []byte, timeout time.Duration) (result.Doc, error) {
	if !wire.ValidString(check) {
		return result.Doc{}, fmt.Errorf("bad check name %q", check)
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	args, err := WithTimeout(args, timeout)
	if err != nil {
		return result.Doc{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if check == wire.PingCheck {
		return a.Check(ctx, check, args)
	}
	return m.dispatch(ctx, a, check, "", args)
}

// dispatch runs one check on a connection and stores its result, as a
// run of schedule ("" for a run asked for).
func (m *Monitor) dispatch(ctx context.Context, a Agent, check, schedule string, args []byte) (result.Doc, error) {
	start := m.clock.Now()
	doc, err := a.Check(ctx, check, args)
	if err != nil {
		return doc, err
	}
	if err := Store(context.WithoutCancel(ctx), m.store, a.Name(), check, schedule, start, doc); err != nil {
		return doc, err
	}
	return doc, nil
}

// Store writes a result to the store, returning once it is on disk.
func Store(ctx context.Context, store state.Store, agent, check, schedule string, at time.Time, doc result.Doc) error {
	r := state.ResultOf(agent, check, schedule, at, doc)
	if err := store.AddResult(ctx, r); err != nil {
		return fmt.Errorf("store result of %s on %s: %w", check, agent, err)
	}
	// Its metrics' points for the graphs: an update in memory, no I/O. A
	// metric not graphed is no failure of the result; the store counts
	// it, with why (RollupStats).
	_ = store.Feed(r)
	return nil
}

// WithTimeout adds _timeout_ms to the args of a check when they have none,
// a little under the time helen waits, so that the agent answers first.
func WithTimeout(args []byte, wait time.Duration) ([]byte, error) {
	ms := wait.Milliseconds() * 9 / 10
	if wait-time.Duration(ms)*time.Millisecond > 2*time.Second {
		ms = (wait - 2*time.Second).Milliseconds()
	}
	ms = max(ms, 1)
	if b, ok := spliceTimeout(args, ms); ok {
		return b, nil
	}
	obj := map[string]json.RawMessage{}
	if len(args) > 0 {
		if err := json.Unmarshal(args, &obj); err != nil {
			return nil, fmt.Errorf("check args must be a JSON object: %w", err)
		}
		if obj == nil { // null
			return nil, fmt.Errorf("check args must be a JSON object, not %s", args)
		}
	}
	if _, ok := obj["_timeout_ms"]; ok {
		return args, nil
	}
	obj["_timeout_ms"] = json.RawMessage(strconv.FormatInt(ms, 10))
	return json.Marshal(obj)
}

// spliceTimeout is WithTimeout for the common args, none or an object
// that does not name _timeout_ms: it writes _timeout_ms in as the first
// member rather than decode the object and encode it again, once for
// every run. It reports false for the rest, which WithTimeout decodes. A
// key that spells _timeout_ms with escapes comes after the one added,
// and wins, as it would decoded.
func spliceTimeout(args []byte, ms int64) ([]byte, bool) {
	const key = `_timeout_ms`
	if len(args) == 0 {
		return append(strconv.AppendInt([]byte(`{"`+key+`":`), ms, 10), '}'), true
	}
	body := bytes.Trim(args, " \t\r\n")
	if len(body) == 0 || body[0] != '{' || bytes.Contains(body, []byte(key)) || !json.Valid(body) {
		return nil, false
	}
	b := make([]byte, 0, len(body)+len(key)+24)
	b = strconv.AppendInt(append(b, `{"`+key+`":`...), ms, 10)
	if rest := bytes.TrimLeft(body[1:], " \t\r\n"); rest[0] != '}' {
		b = append(b, ',')
	}
	return append(b, body[1:]...), true
}
