package pki

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"testing"
)

// LoadCA and LoadServer load what helen serve made and never make
// anything: a directory without them stays empty.
func TestLoadMakesNothing(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadCA(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCA of an empty directory = %v, want fs.ErrNotExist", err)
	}
	if _, err := LoadServer(dir); err == nil {
		t.Error("LoadServer of an empty directory: no error")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("loading made %v", entries)
	}

	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := LoadOrCreateServer(dir, ca, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadCA(dir)
	if err != nil || !got.Cert.Equal(ca.Cert) {
		t.Errorf("LoadCA = %v, want the CA made", err)
	}
	sc, err := LoadServer(dir)
	if err != nil || !bytes.Equal(sc.Certificate[0], cert.Certificate[0]) {
		t.Errorf("LoadServer = %v, want the certificate made", err)
	}
}
