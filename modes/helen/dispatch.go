package helen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
	"github.com/equus-monitoring/equus/wire"
)

// pingCheck is the agent's built-in liveness check.
const pingCheck = "equus.ping"

// Run sends check to agent with args (a JSON object, or empty) and waits up
// to timeout for the result, which is on disk when Run returns it. No
// answer in time is a result of status unknown, kept as well.
//
// The result of equus.ping is not kept: it probes the connection, as the
// pings helen sends idle agents do, and a disk commit for each would
// bound pings by the store's group-commit delay and fill the history with
// pongs.
func (s *Server) Run(ctx context.Context, agent, check string, args []byte, timeout time.Duration) (result.Doc, error) {
	if !wire.ValidString(check) {
		return result.Doc{}, fmt.Errorf("bad check name %q", check)
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	args, err := withTimeout(args, timeout)
	if err != nil {
		return result.Doc{}, err
	}
	ss, ok := s.session(agent)
	if !ok {
		return result.Doc{}, fmt.Errorf("%w: %s", ErrNotConnected, agent)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if check == pingCheck {
		return s.exchange(ctx, ss, check, args, time.Now())
	}
	return s.dispatch(ctx, ss, check, "", args)
}

// dispatch runs one check on a session and stores its result, as a run
// of schedule ("" for a run asked for).
func (s *Server) dispatch(ctx context.Context, ss *session, check, schedule string, args []byte) (result.Doc, error) {
	start := time.Now()
	doc, err := s.exchange(ctx, ss, check, args, start)
	if err != nil {
		return doc, err
	}
	if err := s.store(context.WithoutCancel(ctx), ss.name, check, schedule, start, doc); err != nil {
		return doc, err
	}
	return doc, nil
}

// exchange runs one check on a session: its result, or status unknown
// when ctx's deadline passes first.
func (s *Server) exchange(ctx context.Context, ss *session, check string, args []byte, start time.Time) (result.Doc, error) {
	m, err := ss.call(ctx, check, args)
	return settle(ss, check, start, m, err)
}

// settle turns the outcome of a call into a result: the agent's, or status
// unknown for one that did not come in time. The agent's is capped as the
// store keeps it (state.Cap, CapLongOutput), so that the status table, the
// events and the answer of a run hold what is stored, not the megabyte an
// agent may send.
func settle(ss *session, check string, start time.Time, m wire.Message, err error) (result.Doc, error) {
	switch {
	case err == nil:
		doc := result.Parse(m.Blob)
		doc.Message, doc.Metrics = state.Cap(doc.Message, doc.Metrics)
		doc.LongOutput = state.CapLongOutput(doc.LongOutput)
		return doc, nil
	case errors.Is(err, context.DeadlineExceeded):
		return result.Unknownf("no result from %s within %s", ss.name, time.Since(start).Round(time.Millisecond)), nil
	default:
		return result.Doc{}, fmt.Errorf("run %s on %s: %w", check, ss.name, err)
	}
}

// store writes a result to the database, returning once it is on disk.
func (s *Server) store(ctx context.Context, agent, check, schedule string, at time.Time, doc result.Doc) error {
	r := state.Result{
		Agent:      agent,
		Check:      check,
		Schedule:   schedule,
		Time:       at,
		Status:     string(doc.Status),
		Message:    doc.Message,
		LongOutput: doc.LongOutput,
		Metrics:    doc.Metrics,
		DurationMS: doc.DurationMS,
	}
	if err := s.db.AddResult(ctx, r); err != nil {
		return fmt.Errorf("store result of %s on %s: %w", check, agent, err)
	}
	return nil
}

// withTimeout adds _timeout_ms to the args of a check when they have none,
// a little under the time helen waits, so that the agent answers first.
func withTimeout(args []byte, wait time.Duration) ([]byte, error) {
	obj := map[string]json.RawMessage{}
	if len(args) > 0 {
		if err := json.Unmarshal(args, &obj); err != nil {
			return nil, fmt.Errorf("check args must be a JSON object: %w", err)
		}
	}
	if _, ok := obj["_timeout_ms"]; ok {
		return args, nil
	}
	ms := wait.Milliseconds() * 9 / 10
	if wait-time.Duration(ms)*time.Millisecond > 2*time.Second {
		ms = (wait - 2*time.Second).Milliseconds()
	}
	obj["_timeout_ms"] = json.RawMessage(fmt.Sprint(max(ms, 1)))
	return json.Marshal(obj)
}
