package update

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"aead.dev/minisign"
)

// binaryServer serves body in several ways that a test picks by path.
func binaryServer(t *testing.T, body []byte) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/good", func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	})
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: the body simply ends early.
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
	})
	mux.HandleFunc("/cut", func(w http.ResponseWriter, r *http.Request) {
		// The connection drops before the announced length.
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
		w.Write([]byte("trailing bytes"))
	})
	mux.HandleFunc("/streamed-long", func(w http.ResponseWriter, r *http.Request) {
		// Chunked, so the size is known only by reading.
		for range 3 {
			w.Write(body)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/other", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.ToUpper(string(body))))
	})
	mux.HandleFunc("/missing", http.NotFound)
	srv := httptest.NewUnstartedServer(mux)
	// Handshakes that a test makes fail are expected.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestDownload(t *testing.T) {
	pub, priv := newKey(t)
	otherPub, _ := newKey(t)
	body := []byte(strings.Repeat("equus binary ", 5000))
	srv := binaryServer(t, body)
	offer := Offer{Version: "1.2.3", OS: "linux", Arch: "amd64", SHA256: sha(body), Size: int64(len(body))}
	hashedSig := string(signHashed(t, priv, body))
	legacySig := string(minisign.Sign(priv, body))
	upper := []byte(strings.ToUpper(string(body)))

	with := func(f func(*Offer)) Offer { o := offer; f(&o); return o }
	tests := []struct {
		name    string
		path    string
		offer   Offer
		key     *minisign.PublicKey
		wantErr error // nil: success; errAny: any error
	}{
		{"good", "/good", offer, nil, nil},
		{"good-signed", "/good", with(func(o *Offer) { o.Signature = hashedSig }), &pub, nil},
		{"good-legacy-signature", "/good", with(func(o *Offer) { o.Signature = legacySig }), &pub, nil},
		{"signature-ignored-without-key", "/good", with(func(o *Offer) { o.Signature = "garbage" }), nil, nil},
		{"upper-case-sha", "/good", with(func(o *Offer) { o.SHA256 = strings.ToUpper(o.SHA256) }), nil, nil},
		{"wrong-checksum", "/other", offer, nil, ErrChecksum},
		{"short", "/short", offer, nil, ErrChecksum},
		{"cut", "/cut", offer, nil, errAny},
		{"too-large", "/long", offer, nil, ErrTooLarge},
		{"too-large-streamed", "/streamed-long", offer, nil, ErrTooLarge},
		{"offer-over-limit", "/good", with(func(o *Offer) { o.Size = MaxBinary + 1 }), nil, ErrTooLarge},
		{"offer-without-size", "/good", with(func(o *Offer) { o.Size = 0 }), nil, errAny},
		{"offer-bad-sha", "/good", with(func(o *Offer) { o.SHA256 = "abc" }), nil, errAny},
		{"not-found", "/missing", offer, nil, errAny},
		{"unsigned", "/good", offer, &pub, ErrSignature},
		{"bad-signature", "/good", with(func(o *Offer) { o.Signature = "untrusted comment: x\nAAAA\ntrusted comment: y\nAAAA\n" }), &pub, ErrSignature},
		{"other-key", "/good", with(func(o *Offer) { o.Signature = hashedSig }), &otherPub, ErrSignature},
		{"other-key-legacy", "/good", with(func(o *Offer) { o.Signature = legacySig }), &otherPub, ErrSignature},
		// The checksum matches what is served, but the signature is of
		// what the release signed.
		{"signed-other-bytes", "/other", with(func(o *Offer) { o.SHA256 = sha(upper); o.Signature = hashedSig }), &pub, ErrSignature},
		{"signed-other-bytes-legacy", "/other", with(func(o *Offer) { o.SHA256 = sha(upper); o.Signature = legacySig }), &pub, ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, err := Download(context.Background(), srv.Client(), srv.URL+tt.path, tt.offer, tt.key, dir)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Download: %v", err)
				}
				if got := readFile(t, path); got != string(body) {
					t.Errorf("downloaded %d bytes, want the %d served", len(got), len(body))
				}
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o100 == 0 || filepath.Dir(path) != dir {
					t.Errorf("downloaded file %s: %v %v, want an executable in %s", path, fi.Mode(), err, dir)
				}
				return
			}
			if err == nil {
				t.Fatalf("Download: no error, want %v", tt.wantErr)
			}
			if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Download: %v, want %v", err, tt.wantErr)
			}
			if left := names(t, dir); len(left) != 0 {
				t.Errorf("failed download left %v", left)
			}
		})
	}
}

// errAny stands for any error in a table.
var errAny = errors.New("any error")

func TestDownloadCanceled(t *testing.T) {
	body := []byte("equus")
	srv := binaryServer(t, body)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	offer := Offer{SHA256: sha(body), Size: int64(len(body))}
	if _, err := Download(ctx, srv.Client(), srv.URL+"/good", offer, nil, dir); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if left := names(t, dir); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}

func TestDownloadUntrustedServer(t *testing.T) {
	body := []byte("equus")
	srv := binaryServer(t, body)
	offer := Offer{SHA256: sha(body), Size: int64(len(body))}
	// A client that does not trust the test server's certificate.
	if _, err := Download(context.Background(), &http.Client{}, srv.URL+"/good", offer, nil, t.TempDir()); err == nil {
		t.Fatal("Download from an untrusted server: no error")
	}
}

func TestParsePublicKey(t *testing.T) {
	pub, _ := newKey(t)
	file, _ := pub.MarshalText()
	for _, in := range []string{string(file), string(file) + "\n", pub.String(), "  " + pub.String() + "\r\n"} {
		key, err := ParsePublicKey(in)
		if err != nil {
			t.Fatalf("ParsePublicKey(%q): %v", in, err)
		}
		if !key.Equal(pub) {
			t.Errorf("ParsePublicKey(%q) = %v, want %v", in, key, pub)
		}
	}
	for _, in := range []string{"", "not a key", "untrusted comment: x\nAAAA"} {
		if _, err := ParsePublicKey(in); err == nil {
			t.Errorf("ParsePublicKey(%q): no error", in)
		}
	}
}
