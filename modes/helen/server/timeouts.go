package server

import "time"

// Timeouts of helen's HTTP servers. Every connection is bounded in time
// whatever its peer does: its TLS handshake (Config.HelloTimeout on the
// agents' port, readHeaderTimeout on the operators'), the headers of each
// request, the whole request, each write of a response, and the wait
// between two requests (Config.HTTPIdleTimeout).
const (
	readHeaderTimeout = 10 * time.Second
	// readTimeout bounds a whole request, body included: the bodies helen
	// takes are small (an enrollment, a schedule, a login).
	readTimeout = 30 * time.Second
	// defaultHTTPIdleTimeout is how long a keep-alive connection may wait
	// for its next request.
	defaultHTTPIdleTimeout = 60 * time.Second
)
