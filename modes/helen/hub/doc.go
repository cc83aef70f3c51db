// Package hub is helen's link to its agents: the agents' port, where it
// tells wire sessions from HTTPS by ALPN; the hello and the admission of
// each agent; the sessions and the checks multiplexed on them by message
// id; the pings of idle agents; reload, and the rollout of a newer
// version. It offers the rest of helen a small door: a connected agent's
// Session (call a check on it), the set of sessions, and a Watcher told
// of each connect and disconnect.
package hub
