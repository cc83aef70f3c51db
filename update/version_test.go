package update

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBinaryVersion(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		body string // the script; "" for no binary at all
		want string
		err  []string // what the error says, all of it
	}{
		{name: "release", body: `[ "$1" = version ] && echo "equus 1.2.3 go1.26 linux/amd64"`, want: "1.2.3"},
		{name: "dev", body: `echo "equus 0.0.0-dev"`, want: "0.0.0-dev"},
		{name: "stderr-not-read", body: `echo "warning: old kernel" >&2; echo "equus 1.0.0"`, want: "1.0.0"},
		{name: "not-equus", body: `echo new`, err: []string{`version" printed "new", not the version of equus`}},
		{name: "no-output", body: `exit 0`, err: []string{`printed "", not the version of equus`}},
		{name: "name-only", body: `echo equus`, err: []string{"not the version of equus"}},
		{name: "fails-on-stderr", body: "echo 'equus 1.0.0'; echo 'cannot execute: wrong architecture' >&2; exit 126",
			err: []string{`version" does not run`, `"cannot execute: wrong architecture"`, "exit status 126"}},
		{name: "fails-on-stdout", body: "echo 'usage: equus [flags]'; exit 2",
			err: []string{"does not run", `"usage: equus [flags]"`, "exit status 2"}},
		{name: "stderr-over-stdout", body: "echo " + long + "; echo second >&2; exit 1",
			err: []string{"does not run", `"second"`}},
		{name: "long-line-cut", body: "echo " + long + " >&2; exit 1",
			err: []string{`"` + long[:200] + `"`}},
		{name: "missing", err: []string{`version" does not run`, "no such file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "equus")
			if tc.body != "" {
				script(t, bin, tc.body)
			}
			got, err := BinaryVersion(context.Background(), bin)
			if len(tc.err) == 0 {
				if err != nil || got != tc.want {
					t.Fatalf("BinaryVersion = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("BinaryVersion = %q, no error; want one saying %q", got, tc.err)
			}
			for _, want := range tc.err {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), long[:201]) {
				t.Errorf("error %q holds more than 200 bytes of output", err)
			}
		})
	}
}

// BinaryVersion ends with its context, well before its own bound.
func TestBinaryVersionContext(t *testing.T) {
	bin := script(t, filepath.Join(t.TempDir(), "equus"), "exec sleep 30")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if v, err := BinaryVersion(ctx, bin); err == nil || !strings.Contains(err.Error(), "does not run") {
		t.Fatalf("BinaryVersion of a binary that hangs = %q, %v; want does not run", v, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("BinaryVersion took %v with a context of 100ms", d)
	}
}
