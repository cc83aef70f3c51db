package modes

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Build says which build of equus runs: its version and the commit it was
// built from. Release builds set all three with -ldflags -X (main.version,
// main.commit, main.date); a plain `go build` or `go run` in a git checkout
// leaves commit and date empty, and they come from the Go toolchain's own
// record of the checkout (vcs.revision and vcs.time).
type Build struct {
	Version string
	Commit  string // the commit's full hash
	Date    string // the commit's time, RFC 3339
	// Modified reports whether the checkout had changes not committed,
	// as the Go toolchain recorded it (unknown, false, for builds without
	// that record).
	Modified bool
}

// WithVCS returns b with Commit and Date filled from the build settings of
// info (debug.ReadBuildInfo) where b has none, and Modified from them when
// they describe the same commit.
func (b Build) WithVCS(info *debug.BuildInfo) Build {
	if info == nil {
		return b
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" || (b.Commit != "" && b.Commit != rev) {
		return b
	}
	if b.Commit == "" {
		b.Commit, b.Date = rev, at
	}
	b.Modified = modified
	return b
}

// String is what `equus version` prints: "equus", the version, the Go
// version, OS/architecture, then the commit and its time when known. Tools
// read the first two words (stage0 checks a new binary's version so); what
// follows may grow.
func (b Build) String() string {
	s := fmt.Sprintf("equus %s %s %s/%s", b.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if b.Commit != "" {
		s += " commit " + b.Commit
		if b.Date != "" {
			s += " " + b.Date
		}
		if b.Modified {
			s += " modified"
		}
	}
	return s
}
