package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/modes/helen/reply"
	"github.com/equus-monitoring/equus/state"
)

// The endpoints of the API that act: on the schedules, and on the agents
// (enrollment tokens, certificates, revocation, forgetting, runs,
// reloads). An agent's actions are under its path, /v1/agents/{name}/,
// beside the list of agents: a certificate is something an agent has,
// made anew by each POST; revoke, run and reload are verbs, as they change
// or ask more than a document; forgetting an agent takes it out of the
// list, which is what DELETE says.

// opsRunTimeoutMax is the longest run the operators' port takes: its
// answer must be written within opsWriteTimeout, and helen run on the
// admin socket has no such bound.
const opsRunTimeoutMax = WriteTimeout - 10*time.Second

func (a *api) handleGetSchedule(w http.ResponseWriter, r *http.Request) {
	sch, err := a.store.Schedule(r.PathValue("name"))
	if errors.Is(err, state.ErrNotFound) {
		reply.Error(w, http.StatusNotFound, "%v: %s", monitor.ErrNoSchedule, r.PathValue("name"))
		return
	}
	if err != nil {
		reply.Error(w, http.StatusInternalServerError, "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, viewOf(sch))
}

func (a *api) handlePutSchedule(w http.ResponseWriter, r *http.Request) {
	var v ScheduleView
	if !decode(w, r, &v) {
		return
	}
	sch, err := a.backend.AddSchedule(v.Schedule())
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, viewOf(sch))
}

func (a *api) handleDeleteSchedule(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	err := a.backend.DeleteSchedule(name)
	switch {
	case errors.Is(err, monitor.ErrNoSchedule):
		reply.Error(w, http.StatusNotFound, "%v", err)
	case err != nil:
		reply.Error(w, http.StatusInternalServerError, "%v", err)
	default:
		reply.JSON(w, http.StatusOK, map[string]string{"deleted": name})
	}
}

func (a *api) handleToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if !decode(w, r, &req) {
		return
	}
	resp, err := a.backend.Token(req)
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, resp)
}

func (a *api) handleIssue(w http.ResponseWriter, r *http.Request) {
	if !noBody(w, r) {
		return
	}
	resp, err := a.backend.Issue(r.PathValue("name"))
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, resp)
}

func (a *api) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if !noBody(w, r) {
		return
	}
	name := r.PathValue("name")
	if err := a.backend.Revoke(name); err != nil {
		reply.Error(w, actionStatus(err), "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, map[string]string{"revoked": name})
}

func (a *api) handleForget(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.backend.Forget(name); err != nil {
		reply.Error(w, actionStatus(err), "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, map[string]string{"forgotten": name})
}

// handleRun runs a check on an agent, for at most a.runMax.
func (a *api) handleRun(w http.ResponseWriter, r *http.Request) {
	var req RunRequest
	if !decode(w, r, &req) {
		return
	}
	timeout := time.Duration(req.Timeout)
	if a.runMax > 0 && timeout > a.runMax {
		reply.Error(w, http.StatusBadRequest, "timeout %v: runs here take at most %v (helen run on the admin socket takes longer ones)", timeout, a.runMax)
		return
	}
	doc, err := a.backend.Run(r.Context(), r.PathValue("name"), req.Check, req.Args, timeout)
	if err != nil {
		reply.Error(w, actionStatus(err), "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, doc)
}

// handleRuns runs a batch of checks on an agent, all at once, each as
// handleRun does, and answers their outcomes in the order asked: one
// request instead of one a check, while the store still commits each
// result (with the others of its batch) before the answer.
func (a *api) handleRuns(w http.ResponseWriter, r *http.Request) {
	var req RunsRequest
	if !decode(w, r, &req) {
		return
	}
	if len(req.Runs) == 0 || len(req.Runs) > MaxRuns {
		reply.Error(w, http.StatusBadRequest, "%d runs: give 1 to %d", len(req.Runs), MaxRuns)
		return
	}
	for i, run := range req.Runs {
		if t := time.Duration(run.Timeout); a.runMax > 0 && t > a.runMax {
			reply.Error(w, http.StatusBadRequest, "run %d: timeout %v: runs here take at most %v (helen run on the admin socket takes longer ones)", i, t, a.runMax)
			return
		}
	}
	if f, ok := a.backend.(RunsForwarder); ok {
		answer, forwarded, err := f.ForwardRuns(r.Context(), r.PathValue("name"), req.Runs)
		switch {
		case err != nil:
			reply.Error(w, actionStatus(err), "%v", err)
			return
		case forwarded:
			defer answer.Close()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			io.Copy(w, answer)
			return
		}
	}
	out := make([]RunOutcome, len(req.Runs))
	var wg sync.WaitGroup
	for i, run := range req.Runs {
		wg.Go(func() {
			doc, err := a.backend.Run(r.Context(), r.PathValue("name"), run.Check, run.Args, time.Duration(run.Timeout))
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].Result = &doc
		})
	}
	wg.Wait()
	reply.JSON(w, http.StatusOK, out)
}

// RunsForwarder is a backend that sends a batch of runs on an agent whose
// session another helen holds to that helen, whole: forwarded reports
// whether it did, and answer is then the other's, the JSON of the
// outcomes, to pass on as it comes and close.
type RunsForwarder interface {
	ForwardRuns(ctx context.Context, agent string, runs []RunRequest) (answer io.ReadCloser, forwarded bool, err error)
}

func (a *api) handleReload(w http.ResponseWriter, r *http.Request) {
	if !noBody(w, r) {
		return
	}
	name := r.PathValue("name")
	if err := a.backend.Reload(r.Context(), name); err != nil {
		reply.Error(w, actionStatus(err), "%v", err)
		return
	}
	reply.JSON(w, http.StatusOK, map[string]string{"reloading": name})
}

// actionStatus is the HTTP status of the error of an action on an agent:
// 404 for an agent helen does not know or that is not connected, 409 for
// one connected that it cannot forget, 400 for the rest (a bad name, a
// revoked agent, a check that failed to run).
func actionStatus(err error) int {
	switch {
	case errors.Is(err, ErrNoAgent), errors.Is(err, ErrUnknownAgent), errors.Is(err, ErrNotConnected):
		return http.StatusNotFound
	case errors.Is(err, ErrConnected):
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// maxRequestBody bounds the body of a request to the API: room for a
// schedule's args of a whole blob.
const maxRequestBody = 2 << 20

// decode reads the JSON body of a request into v, or answers 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody)).Decode(v); err != nil {
		reply.Error(w, http.StatusBadRequest, "bad request: %v", err)
		return false
	}
	return true
}

// noBody answers 400 to a request with a body to an endpoint that takes
// none, as a parameter it does not take is refused: what the request
// says there is never taken for something helen did.
func noBody(w http.ResponseWriter, r *http.Request) bool {
	n, _ := io.ReadFull(r.Body, make([]byte, 1))
	if n > 0 {
		reply.Error(w, http.StatusBadRequest, "%s %s takes no body", r.Method, r.URL.Path)
		return false
	}
	return true
}
