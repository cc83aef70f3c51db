package helen

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
	// writeTimeout bounds a response, and each 32 KiB of a download (a
	// release binary, the check bundle), so that a slow link gets the file
	// and a stalled one is cut.
	writeTimeout = 30 * time.Second
	// maxDownloadTime bounds a download's whole response however it goes
	// on: a 30 MB binary in it needs some 35 KB/s, and a reader slower
	// than that holds a download slot no longer.
	maxDownloadTime = 15 * time.Minute
	// opsWriteTimeout bounds a response of the operators' port, which may
	// be a long history.
	opsWriteTimeout = 60 * time.Second
	// defaultHTTPIdleTimeout is how long a keep-alive connection may wait
	// for its next request.
	defaultHTTPIdleTimeout = 60 * time.Second
)

// maxDownloads bounds the downloads of a release binary served at once,
// with or without an agent certificate (the bootstrap script has none):
// each hashes the whole binary again, so that what helen serves is what it
// verified, and holds it in memory when it comes out of an archive (at most
// update.MaxBinary). A download past it is answered 503 with Retry-After
// downloadRetryAfter.
const (
	maxDownloads       = 8
	downloadRetryAfter = 10 * time.Second
)
