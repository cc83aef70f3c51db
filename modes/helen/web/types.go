package web

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/equus-monitoring/equus/result"
	"github.com/equus-monitoring/equus/state"
)

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Uses  int      `json:"uses"`
	TTL   Duration `json:"ttl"`
	Agent string   `json:"agent,omitempty"` // the one agent it enrolls
}

type TokenResponse struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	Uses    int       `json:"uses"`
	Expires time.Time `json:"expires"`
	Agent   string    `json:"agent,omitempty"`
	Join    string    `json:"join"`
	// Helen is the address the join command has agents reach helen at,
	// and HelenFrom what said so: --advertise, --san, --listen or the
	// host name.
	Helen     string `json:"helen"`
	HelenFrom string `json:"helen_from"`
	// Helens are the addresses of every helen the join command names,
	// Helen's first, where there are others.
	Helens []string `json:"helens,omitempty"`
}

type IssueResponse struct {
	Name string `json:"name"`
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// RunsRequest is the body of POST /v1/agents/{name}/runs: runs of checks
// on one agent, at most MaxRuns.
type RunsRequest struct {
	Runs []RunRequest `json:"runs"`
}

// MaxRuns bounds the runs of one POST /v1/agents/{name}/runs.
const MaxRuns = 1000

// RunOutcome is what became of one run of POST /v1/agents/{name}/runs:
// its result, or why it has none.
type RunOutcome struct {
	Result *result.Doc `json:"result,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// RunRequest is the body of POST /v1/agents/{name}/run.
type RunRequest struct {
	Check   string          `json:"check"`
	Args    json.RawMessage `json:"args,omitempty"`
	Timeout Duration        `json:"timeout,omitempty"`
}

// AgentView is an agent as the API and the helen commands show it.
type AgentView struct {
	state.Agent
	Revoked bool `json:"revoked"`
}

func AgentViews(db state.Store) ([]AgentView, error) {
	agents, err := db.Agents()
	if err != nil {
		return nil, err
	}
	return viewAgents(db, agents)
}

// viewAgents returns the views of agents, saying which are revoked.
func viewAgents(db state.Store, agents []state.Agent) ([]AgentView, error) {
	views := make([]AgentView, 0, len(agents))
	for _, a := range agents {
		revoked, err := db.Revoked(a.Name)
		if err != nil {
			return nil, err
		}
		views = append(views, AgentView{Agent: a, Revoked: revoked})
	}
	return views, nil
}

// ErrNoAgent is an agent helen knows nothing of.
var ErrNoAgent = errors.New("helen: no such agent")

// Errors of Forget.
var (
	// ErrUnknownAgent is an agent helen does not know, or has forgotten.
	ErrUnknownAgent = errors.New("helen: no such agent")
	// ErrConnected refuses to forget an agent that is connected and not
	// revoked: its next result would bring its statuses back at once,
	// and an agent in use would vanish from the lists while it works.
	ErrConnected = errors.New("helen: agent connected")
	// ErrNotConnected is a check or a reload for an agent with no
	// session.
	ErrNotConnected = errors.New("helen: agent not connected")
)
