package modes

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestBuildWithVCS(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	const other = "fedcba9876543210fedcba9876543210fedcba98"
	vcs := func(rev, at, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: at},
			{Key: "vcs.modified", Value: modified},
		}}
	}
	tests := []struct {
		name string
		b    Build
		info *debug.BuildInfo
		want Build
	}{
		{"go-build", Build{Version: "0.0.0-dev"}, vcs(rev, "2026-01-02T03:04:05Z", "false"),
			Build{Version: "0.0.0-dev", Commit: rev, Date: "2026-01-02T03:04:05Z"}},
		{"go-build-modified", Build{Version: "0.0.0-dev"}, vcs(rev, "2026-01-02T03:04:05Z", "true"),
			Build{Version: "0.0.0-dev", Commit: rev, Date: "2026-01-02T03:04:05Z", Modified: true}},
		{"ldflags-and-vcs", Build{Version: "1.2.3", Commit: rev, Date: "2026-01-02T03:04:05Z"}, vcs(rev, "2026-01-02T03:04:05Z", "true"),
			Build{Version: "1.2.3", Commit: rev, Date: "2026-01-02T03:04:05Z", Modified: true}},
		{"ldflags-win", Build{Version: "1.2.3", Commit: rev, Date: "2026-01-02T03:04:05Z"}, vcs(other, "2027-01-01T00:00:00Z", "true"),
			Build{Version: "1.2.3", Commit: rev, Date: "2026-01-02T03:04:05Z"}},
		{"ldflags-only", Build{Version: "1.2.3", Commit: rev, Date: "2026-01-02T03:04:05Z"}, &debug.BuildInfo{},
			Build{Version: "1.2.3", Commit: rev, Date: "2026-01-02T03:04:05Z"}},
		{"no-vcs", Build{Version: "1.2.3"}, &debug.BuildInfo{}, Build{Version: "1.2.3"}},
		{"no-info", Build{Version: "1.2.3"}, nil, Build{Version: "1.2.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.WithVCS(tt.info); got != tt.want {
				t.Errorf("WithVCS = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBuildString(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	plat := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name string
		b    Build
		want string
	}{
		{"version-only", Build{Version: "1.2.3"}, "equus 1.2.3 " + plat},
		{"commit", Build{Version: "1.2.3", Commit: rev, Date: "2026-01-02T03:04:05Z"}, "equus 1.2.3 " + plat + " commit " + rev + " 2026-01-02T03:04:05Z"},
		{"modified", Build{Version: "1.2.3", Commit: rev, Date: "2026-01-02T03:04:05Z", Modified: true}, "equus 1.2.3 " + plat + " commit " + rev + " 2026-01-02T03:04:05Z modified"},
		{"no-date", Build{Version: "1.2.3", Commit: rev}, "equus 1.2.3 " + plat + " commit " + rev},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
