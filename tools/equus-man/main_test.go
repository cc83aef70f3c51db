package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

// TestPageIsTheSameForEveryone checks that the page does not depend on who
// makes it: the data directories' defaults, computed for the user running
// the command line, are described for root and other users instead.
func TestPageIsTheSameForEveryone(t *testing.T) {
	page := func(state string) string {
		t.Helper()
		t.Setenv("XDG_STATE_HOME", state)
		b, err := Page("1.2.3", "2026-01-02")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a, b := t.TempDir(), t.TempDir()
	pa, pb := page(a), page(b)
	if pa != pb {
		t.Error("the page differs with XDG_STATE_HOME")
	}
	if strings.Contains(pa, a) {
		t.Errorf("the page names this user's state directory %s", a)
	}
	n := 0
	for _, l := range strings.Split(pa, "\n") {
		if !strings.HasPrefix(l, `\fB--data\fP`) {
			continue
		}
		n++
		if !strings.Contains(l, "(default: /var/lib/") || !strings.Contains(l, "as root, else") {
			t.Errorf("a --data default names one user's directory: %s", l)
		}
	}
	if n == 0 {
		t.Error("the page documents no --data flag")
	}
	if !strings.Contains(pa, "\n"+`.TH EQUUS 1 "2026-01-02" "equus 1.2.3" "Equus Manual"`+"\n") {
		t.Errorf("no title line with the version and date:\n%.300s", pa)
	}
	for _, want := range []string{".SH NAME\nequus \\- ", "\n.SH helen\n", "\n.SS serve\n", "\n.SH stage0\n", "--update-key"} {
		if !strings.Contains(pa, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestGzipped checks that the compressed page depends on the page alone
// (no name or time in the header) and says it used the best compression,
// which is what Debian's tools look for.
func TestGzipped(t *testing.T) {
	page := []byte(".TH EQUUS 1\n.SH NAME\nequus \\- remote monitoring\n")
	a, err := gzipped(page)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := gzipped(page)
	if !bytes.Equal(a, b) {
		t.Error("two compressions differ")
	}
	r, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if !r.ModTime.IsZero() || r.Name != "" {
		t.Errorf("header has time %v, name %q", r.ModTime, r.Name)
	}
	if a[8] != 2 { // XFL: 2 is the slowest, best compression
		t.Errorf("XFL %d, want 2", a[8])
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, page) {
		t.Errorf("round trip: %q, %v", got, err)
	}
}
