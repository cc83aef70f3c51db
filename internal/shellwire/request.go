package shellwire

// ALPN is the TLS application protocol name of an agent's shell
// connection, offered on helen's agents' port beside the link's.
const ALPN = "equus-shell/1"

// CheckName is the check, sent on the link, that asks an agent to start a
// shell session; its args are a Request.
const CheckName = "equus.shell"

// Capability is what an agent lists in equus.info's capabilities when it
// takes shell sessions.
const Capability = "shell"

// Request is the args of CheckName. Command empty runs the user's login
// shell; User empty is the agent's own user. IdleTimeoutMS and
// MaxDurationMS at 0 take the agent's own bounds; otherwise the agent takes
// the lesser of each and its own.
type Request struct {
	ID            string   `json:"id"`
	Secret        string   `json:"secret"`
	User          string   `json:"user"`
	Command       []string `json:"command"`
	TTY           bool     `json:"tty"`
	Cols          uint16   `json:"cols"`
	Rows          uint16   `json:"rows"`
	Term          string   `json:"term"`
	IdleTimeoutMS int64    `json:"idle_timeout_ms"`
	MaxDurationMS int64    `json:"max_duration_ms"`
}
