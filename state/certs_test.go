package state

import (
	"errors"
	"testing"
	"time"
)

// TestRenewCert: a renewal leaves the pinned certificate in use and the new
// one pending beside it; the first use of the new one pins it and refuses
// the old; a later renewal, enrollment or issue replaces a pending one.
func TestRenewCert(t *testing.T) {
	db := openTest(t, Options{})
	if err := db.PinCert("web-1", "fp1", at(0)); err != nil {
		t.Fatal(err)
	}
	if err := db.RenewCert("web-1", "fp1", "fp2", at(time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	a := mustAgent(t, db, "web-1")
	if a.Fingerprint != "fp1" || !a.Pinned || a.Pending != "fp2" || !a.Renewed.Equal(at(time.Hour)) {
		t.Fatalf("after the renewal: %+v", a)
	}
	for _, fp := range []string{"fp1", "fp2"} {
		if err := db.CheckCert("web-1", fp); err != nil {
			t.Errorf("CheckCert(%s) while fp2 is pending = %v", fp, err)
		}
	}
	if err := db.CheckCert("web-1", "fp0"); !errors.Is(err, ErrCertReplaced) {
		t.Errorf("CheckCert of another certificate = %v, want ErrCertReplaced", err)
	}
	// The old one is still the agent's as long as the new one is unused.
	if err := db.AgentSeen(Agent{Name: "web-1", Fingerprint: "fp1", LastSeen: at(2 * time.Hour), Connected: true}); err != nil {
		t.Fatal(err)
	}
	if a := mustAgent(t, db, "web-1"); a.Fingerprint != "fp1" || a.Pending != "fp2" {
		t.Fatalf("the old certificate's use changed the pin: %+v", a)
	}
	if err := db.AgentSeen(Agent{Name: "web-1", Fingerprint: "fp2", LastSeen: at(3 * time.Hour), Connected: true}); err != nil {
		t.Fatal(err)
	}
	if a := mustAgent(t, db, "web-1"); a.Fingerprint != "fp2" || !a.Pinned || a.Pending != "" {
		t.Fatalf("the new certificate's first use did not pin it: %+v", a)
	}
	if err := db.CheckCert("web-1", "fp1"); !errors.Is(err, ErrCertReplaced) {
		t.Errorf("CheckCert of the renewed certificate after the switch = %v, want ErrCertReplaced", err)
	}
	if err := db.AgentSeen(Agent{Name: "web-1", Fingerprint: "fp1", LastSeen: at(4 * time.Hour)}); !errors.Is(err, ErrCertReplaced) {
		t.Errorf("AgentSeen with the renewed certificate = %v, want ErrCertReplaced", err)
	}

	// Renewing with a pending certificate is its first use.
	if err := db.RenewCert("web-1", "fp2", "fp3", at(5*time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.RenewCert("web-1", "fp3", "fp4", at(6*time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if a := mustAgent(t, db, "web-1"); a.Fingerprint != "fp3" || a.Pending != "fp4" {
		t.Fatalf("renewal with the pending certificate: %+v", a)
	}
	// An unused pending certificate gives way to a later renewal...
	if err := db.RenewCert("web-1", "fp3", "fp5", at(7*time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckCert("web-1", "fp4"); !errors.Is(err, ErrCertReplaced) {
		t.Errorf("CheckCert of a pending certificate renewed again = %v, want ErrCertReplaced", err)
	}
	// ...and to an enrollment or helen issue.
	if err := db.PinCert("web-1", "fp6", at(8*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, fp := range []string{"fp3", "fp5"} {
		if err := db.CheckCert("web-1", fp); !errors.Is(err, ErrCertReplaced) {
			t.Errorf("CheckCert(%s) after PinCert = %v, want ErrCertReplaced", fp, err)
		}
	}
}

func mustAgent(t *testing.T, db *DB, name string) Agent {
	t.Helper()
	a, err := db.Agent(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestCertPinning: the certificate an enrollment or PinCert records is the
// agent's only one; an agent never pinned takes any certificate of the CA.
func TestCertPinning(t *testing.T) {
	db := openTest(t, Options{})
	tok, _, err := db.CreateToken(TokenSpec{Uses: 1, TTL: time.Hour}, at(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Enroll(tok, Agent{Name: "web-1", Fingerprint: "fp1"}, at(0)); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckCert("web-1", "fp1"); err != nil {
		t.Errorf("CheckCert of the enrolled certificate: %v", err)
	}
	if err := db.CheckCert("web-1", "fp-old"); !errors.Is(err, ErrCertReplaced) {
		t.Errorf("CheckCert of another certificate = %v, want ErrCertReplaced", err)
	}
	if err := db.AgentSeen(Agent{Name: "web-1", Fingerprint: "fp-old", LastSeen: at(time.Second)}); !errors.Is(err, ErrCertReplaced) {
		t.Errorf("AgentSeen with another certificate = %v, want ErrCertReplaced", err)
	}
	if a, _ := db.Agent("web-1"); a.Fingerprint != "fp1" || !a.Pinned {
		t.Errorf("agent after a refused certificate = %+v", a)
	}

	// helen issue pins the certificate it writes.
	if err := db.PinCert("web-1", "fp2", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckCert("web-1", "fp1"); !errors.Is(err, ErrCertReplaced) {
		t.Errorf("CheckCert of the enrolled certificate after PinCert = %v, want ErrCertReplaced", err)
	}
	if err := db.AgentSeen(Agent{Name: "web-1", Fingerprint: "fp2", LastSeen: at(time.Minute)}); err != nil {
		t.Errorf("AgentSeen with the pinned certificate: %v", err)
	}
	if err := db.PinCert("new-1", "fp3", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if a, err := db.Agent("new-1"); err != nil || a.Fingerprint != "fp3" || !a.Pinned {
		t.Errorf("agent made by PinCert = %+v, %v", a, err)
	}

	// Never pinned: any certificate.
	for _, fp := range []string{"a", "b"} {
		if err := db.AgentSeen(Agent{Name: "free", Fingerprint: fp}); err != nil {
			t.Errorf("AgentSeen of an agent never pinned, certificate %s: %v", fp, err)
		}
	}
	if err := db.CheckCert("unknown", "x"); err != nil {
		t.Errorf("CheckCert of an unknown agent: %v", err)
	}

	if err := db.Revoke("web-1", at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckCert("web-1", "fp2"); !errors.Is(err, ErrRevoked) {
		t.Errorf("CheckCert of a revoked agent = %v, want ErrRevoked", err)
	}
	if err := db.PinCert("web-1", "fp4", at(time.Hour)); !errors.Is(err, ErrRevoked) {
		t.Errorf("PinCert of a revoked agent = %v, want ErrRevoked", err)
	}
}
