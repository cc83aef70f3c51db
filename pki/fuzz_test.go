package pki

import (
	"testing"
	"time"

	"github.com/equus-monitoring/equus/agentname"
)

// FuzzSignCSR feeds SignCSR arbitrary requests: it must never panic, and
// whatever it signs must be an agent certificate for a valid name.
func FuzzSignCSR(f *testing.F) {
	ca, err := NewCA("helen fuzz CA", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	good, _, err := NewCSR("web-1")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(ca.CertPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMA==\n-----END CERTIFICATE REQUEST-----\n"))
	now := time.Now()
	f.Fuzz(func(t *testing.T, csr []byte) {
		certPEM, name, err := ca.SignCSR(csr, now)
		if err != nil {
			return
		}
		if !agentname.Valid(name) {
			t.Fatalf("signed for invalid name %q", name)
		}
		certs, err := ParseCertsPEM(certPEM)
		if err != nil {
			t.Fatal(err)
		}
		checkAgentCert(t, ca, certs[0], name, now)
	})
}

// FuzzParsePin checks that an accepted pin prints back to itself.
func FuzzParsePin(f *testing.F) {
	f.Add("sha256:" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	f.Add("sha256:")
	f.Add("")
	f.Fuzz(func(t *testing.T, pin string) {
		digest, err := ParsePin(pin)
		if err != nil {
			return
		}
		again, err := ParsePin(pinPrefix + hexString(digest))
		if err != nil || string(again) != string(digest) {
			t.Fatalf("round trip of %q: %x, %v", pin, again, err)
		}
	})
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}
