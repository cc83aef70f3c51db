package update

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func BenchmarkParseChecksums(b *testing.B) {
	var sb strings.Builder
	for i := range 40 {
		fmt.Fprintf(&sb, "%s  equus_1.2.3_linux_arch%d.tar.gz\n", sumA, i)
	}
	text := sb.String()
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := ParseChecksums(strings.NewReader(text)); err != nil {
			b.Fatal(err)
		}
	}
}

// randomBinary stands in for an equus binary, which compresses poorly.
func randomBinary(n int) []byte {
	data := make([]byte, n)
	rand.Read(data)
	return data
}

func BenchmarkOpenBinaryTarGz(b *testing.B) {
	bin := randomBinary(16 << 20)
	path := filepath.Join(b.TempDir(), "equus_1.0.0_linux_amd64.tar.gz")
	writeFile(b, path, tarGz(b, entry{name: "equus", body: string(bin)}), 0o644)
	a := Asset{Name: filepath.Base(path), Path: path, Binary: "equus"}
	b.ReportAllocs()
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		rc, _, _, err := OpenBinary(a)
		if err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

func BenchmarkDownload(b *testing.B) {
	bin := randomBinary(16 << 20)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bin)
	}))
	defer srv.Close()
	offer := Offer{SHA256: sha(bin), Size: int64(len(bin))}
	dir := b.TempDir()
	b.ReportAllocs()
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		if _, err := Download(context.Background(), srv.Client(), srv.URL, offer, nil, dir); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPackInstallBundle(b *testing.B) {
	src := b.TempDir()
	for i := range 20 {
		writeFile(b, filepath.Join(src, fmt.Sprintf("check%02d.lua", i)), []byte(strings.Repeat("-- a check\n", 200)), 0o644)
	}
	dest := filepath.Join(b.TempDir(), "checks")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// A changed file each time, so that every install swaps.
		writeFile(b, filepath.Join(src, "changing.lua"), []byte(fmt.Sprint(i)), 0o644)
		data, sum, err := PackBundle(src)
		if err != nil {
			b.Fatal(err)
		}
		if err := InstallBundle(data, sum, dest, nil); err != nil {
			b.Fatal(err)
		}
	}
}
