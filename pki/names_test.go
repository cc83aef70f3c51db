package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestParsePin(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name string
		pin  string
		ok   bool
	}{
		{"lower", "sha256:" + hex64, true},
		{"upper-hex", "sha256:" + strings.ToUpper(hex64), true},
		{"no-prefix", hex64, false},
		{"other-hash", "sha1:" + hex64, false},
		{"upper-prefix", "SHA256:" + hex64, false},
		{"short", "sha256:" + hex64[:62], false},
		{"long", "sha256:" + hex64 + "00", false},
		{"not-hex", "sha256:" + strings.Repeat("zz", 32), false},
		{"colons", "sha256:" + strings.Repeat("ab:", 31) + "ab", false},
		{"curl-form", "sha256//" + base64.StdEncoding.EncodeToString(make([]byte, 32)), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePin(tt.pin)
			if !tt.ok {
				if !errors.Is(err, ErrBadPin) {
					t.Fatalf("ParsePin(%q) = %x, %v; want ErrBadPin", tt.pin, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := hex.DecodeString(strings.ToLower(tt.pin[len("sha256:"):])); string(got) != string(want) {
				t.Fatalf("ParsePin = %x, want %x", got, want)
			}
		})
	}
}

func TestFingerprintAndPin(t *testing.T) {
	ca := testCA(t, "helen test CA")
	sum := sha256.Sum256(ca.Cert.Raw)
	want := "sha256:" + hex.EncodeToString(sum[:])
	if got := Fingerprint(ca.Cert); got != want {
		t.Fatalf("Fingerprint = %s, want %s", got, want)
	}
	if ca.Pin() != want {
		t.Fatalf("Pin = %s, want %s", ca.Pin(), want)
	}
	digest, err := ParsePin(ca.Pin())
	if err != nil || !matchesPin(ca.Cert, digest) {
		t.Fatalf("the CA does not match its own pin: %v", err)
	}
	if other := testCA(t, "helen test CA"); matchesPin(other.Cert, digest) {
		t.Fatal("another CA matches the pin")
	}
}

func TestPublicKeyPin(t *testing.T) {
	ca := testCA(t, "helen test CA")
	spki, err := x509.MarshalPKIXPublicKey(ca.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(spki)
	want := "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
	if got := PublicKeyPin(ca.Cert); got != want {
		t.Fatalf("PublicKeyPin = %s, want %s", got, want)
	}
}
