package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/state"
)

func init() {
	register("RenewCert", testRenewCert)
	register("RenewCertRefused", testRenewCertRefused)
	register("RenewCertUnpinned", testRenewCertUnpinned)
	register("CertPinning", testCertPinning)
}

// testRenewCert: a renewal leaves the pinned certificate in use and the
// new one pending beside it; the first use of the new one pins it and
// refuses the old; a later renewal, enrollment or issue replaces a
// pending one.
func testRenewCert(t *testing.T, open Opener) {
	db := open(t)
	if err := db.PinCert("web-1", "fp1", coreAt(0)); err != nil {
		t.Fatal(err)
	}
	if err := db.RenewCert("web-1", "fp1", "fp2", coreAt(time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	a := coreMustAgent(t, db, "web-1")
	if a.Fingerprint != "fp1" || !a.Pinned || a.Pending != "fp2" || !same(a.Renewed, coreAt(time.Hour)) {
		t.Fatalf("after the renewal: %+v", a)
	}
	for _, fp := range []string{"fp1", "fp2"} {
		if err := db.CheckCert("web-1", fp); err != nil {
			t.Errorf("CheckCert(%s) while fp2 is pending = %v", fp, err)
		}
	}
	if err := db.CheckCert("web-1", "fp0"); !errors.Is(err, state.ErrCertReplaced) {
		t.Errorf("CheckCert of another certificate = %v, want ErrCertReplaced", err)
	}
	// The old one is still the agent's as long as the new one is unused.
	if err := db.AgentSeen(state.Agent{Name: "web-1", Fingerprint: "fp1", LastSeen: coreAt(2 * time.Hour), Connected: true}); err != nil {
		t.Fatal(err)
	}
	if a := coreMustAgent(t, db, "web-1"); a.Fingerprint != "fp1" || a.Pending != "fp2" {
		t.Fatalf("the old certificate's use changed the pin: %+v", a)
	}
	if err := db.AgentSeen(state.Agent{Name: "web-1", Fingerprint: "fp2", LastSeen: coreAt(3 * time.Hour), Connected: true}); err != nil {
		t.Fatal(err)
	}
	if a := coreMustAgent(t, db, "web-1"); a.Fingerprint != "fp2" || !a.Pinned || a.Pending != "" {
		t.Fatalf("the new certificate's first use did not pin it: %+v", a)
	}
	if err := db.CheckCert("web-1", "fp1"); !errors.Is(err, state.ErrCertReplaced) {
		t.Errorf("CheckCert of the renewed certificate after the switch = %v, want ErrCertReplaced", err)
	}
	if err := db.AgentSeen(state.Agent{Name: "web-1", Fingerprint: "fp1", LastSeen: coreAt(4 * time.Hour)}); !errors.Is(err, state.ErrCertReplaced) {
		t.Errorf("AgentSeen with the renewed certificate = %v, want ErrCertReplaced", err)
	}

	// Renewing with a pending certificate is its first use.
	if err := db.RenewCert("web-1", "fp2", "fp3", coreAt(5*time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.RenewCert("web-1", "fp3", "fp4", coreAt(6*time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if a := coreMustAgent(t, db, "web-1"); a.Fingerprint != "fp3" || a.Pending != "fp4" {
		t.Fatalf("renewal with the pending certificate: %+v", a)
	}
	// An unused pending certificate gives way to a later renewal...
	if err := db.RenewCert("web-1", "fp3", "fp5", coreAt(7*time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckCert("web-1", "fp4"); !errors.Is(err, state.ErrCertReplaced) {
		t.Errorf("CheckCert of a pending certificate renewed again = %v, want ErrCertReplaced", err)
	}
	// ...and to an enrollment or helen issue.
	if err := db.PinCert("web-1", "fp6", coreAt(8*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, fp := range []string{"fp3", "fp5"} {
		if err := db.CheckCert("web-1", fp); !errors.Is(err, state.ErrCertReplaced) {
			t.Errorf("CheckCert(%s) after PinCert = %v, want ErrCertReplaced", fp, err)
		}
	}
}

// testRenewCertRefused: a renewal that is refused changes nothing.
func testRenewCertRefused(t *testing.T, open Opener) {
	db := open(t)
	if err := db.PinCert("web-1", "fp1", coreAt(0)); err != nil {
		t.Fatal(err)
	}
	if err := db.RenewCert("web-1", "fp1", "fp2", coreAt(time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.PinCert("gone", "fpg", coreAt(0)); err != nil {
		t.Fatal(err)
	}
	if err := db.Revoke("gone", coreAt(time.Minute)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, agent, current string
		now                  time.Time
		want                 error
	}{
		{"not-pinned", "web-1", "fp0", coreAt(2 * time.Hour), state.ErrCertReplaced},
		{"too-soon", "web-1", "fp1", coreAt(time.Hour + time.Second), state.ErrRenewTooSoon},
		{"revoked", "gone", "fpg", coreAt(2 * time.Hour), state.ErrRevoked},
		{"unknown", "nobody", "fpn", coreAt(2 * time.Hour), state.ErrNotFound},
		{"no-fingerprint", "web-1", "", coreAt(2 * time.Hour), state.ErrInvalid},
		{"bad-name", "web 1", "fp1", coreAt(2 * time.Hour), state.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := db.Agent(tt.agent)
			err := db.RenewCert(tt.agent, tt.current, "fpx", tt.now, time.Minute)
			if !errors.Is(err, tt.want) {
				t.Fatalf("RenewCert = %v, want %v", err, tt.want)
			}
			after, _ := db.Agent(tt.agent)
			if !coreAgentEqual(before, after) || before.Pending != after.Pending || !same(before.Renewed, after.Renewed) || before.Pinned != after.Pinned {
				t.Fatalf("a refused renewal changed the agent:\n%+v\n%+v", before, after)
			}
		})
	}
}

// testRenewCertUnpinned: an agent taken by name (its certificate never
// recorded) is pinned by its renewal.
func testRenewCertUnpinned(t *testing.T, open Opener) {
	db := open(t)
	if err := db.AgentSeen(state.Agent{Name: "old-1", Fingerprint: "fp1", LastSeen: coreAt(0)}); err != nil {
		t.Fatal(err)
	}
	if err := db.RenewCert("old-1", "fp1", "fp2", coreAt(time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckCert("old-1", "fp9"); !errors.Is(err, state.ErrCertReplaced) {
		t.Errorf("CheckCert of another certificate after a renewal = %v, want ErrCertReplaced", err)
	}
	if err := db.AgentSeen(state.Agent{Name: "old-1", Fingerprint: "fp2", LastSeen: coreAt(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if a := coreMustAgent(t, db, "old-1"); a.Fingerprint != "fp2" || !a.Pinned || a.Pending != "" {
		t.Fatalf("after the switch: %+v", a)
	}
}

// testCertPinning: the certificate an enrollment or PinCert records is
// the agent's only one; an agent never pinned takes any certificate of
// the CA.
func testCertPinning(t *testing.T, open Opener) {
	db := open(t)
	tok, _, err := db.CreateToken(state.TokenSpec{Uses: 1, TTL: time.Hour}, coreAt(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Enroll(tok, state.Agent{Name: "web-1", Fingerprint: "fp1"}, coreAt(0)); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckCert("web-1", "fp1"); err != nil {
		t.Errorf("CheckCert of the enrolled certificate: %v", err)
	}
	if err := db.CheckCert("web-1", "fp-old"); !errors.Is(err, state.ErrCertReplaced) {
		t.Errorf("CheckCert of another certificate = %v, want ErrCertReplaced", err)
	}
	if err := db.AgentSeen(state.Agent{Name: "web-1", Fingerprint: "fp-old", LastSeen: coreAt(time.Second)}); !errors.Is(err, state.ErrCertReplaced) {
		t.Errorf("AgentSeen with another certificate = %v, want ErrCertReplaced", err)
	}
	if a, _ := db.Agent("web-1"); a.Fingerprint != "fp1" || !a.Pinned || !same(a.LastSeen, coreAt(0)) {
		t.Errorf("agent after a refused certificate = %+v", a)
	}

	// helen issue pins the certificate it writes.
	if err := db.PinCert("web-1", "fp2", coreAt(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckCert("web-1", "fp1"); !errors.Is(err, state.ErrCertReplaced) {
		t.Errorf("CheckCert of the enrolled certificate after PinCert = %v, want ErrCertReplaced", err)
	}
	if err := db.AgentSeen(state.Agent{Name: "web-1", Fingerprint: "fp2", LastSeen: coreAt(time.Minute)}); err != nil {
		t.Errorf("AgentSeen with the pinned certificate: %v", err)
	}
	if err := db.PinCert("new-1", "fp3", coreAt(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if a, err := db.Agent("new-1"); err != nil || a.Fingerprint != "fp3" || !a.Pinned || !same(a.FirstSeen, coreAt(time.Minute)) {
		t.Errorf("agent made by PinCert = %+v, %v", a, err)
	}
	if err := db.PinCert("new-2", "", coreAt(time.Minute)); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("PinCert of no fingerprint = %v, want ErrInvalid", err)
	}

	// Never pinned: any certificate.
	for _, fp := range []string{"a", "b"} {
		if err := db.AgentSeen(state.Agent{Name: "free", Fingerprint: fp}); err != nil {
			t.Errorf("AgentSeen of an agent never pinned, certificate %s: %v", fp, err)
		}
	}
	if err := db.CheckCert("unknown", "x"); err != nil {
		t.Errorf("CheckCert of an unknown agent: %v", err)
	}

	if err := db.Revoke("web-1", coreAt(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckCert("web-1", "fp2"); !errors.Is(err, state.ErrRevoked) {
		t.Errorf("CheckCert of a revoked agent = %v, want ErrRevoked", err)
	}
	if err := db.PinCert("web-1", "fp4", coreAt(time.Hour)); !errors.Is(err, state.ErrRevoked) {
		t.Errorf("PinCert of a revoked agent = %v, want ErrRevoked", err)
	}
	if err := db.CheckCert("never-seen", "x"); err != nil {
		t.Errorf("CheckCert of an agent never seen = %v", err)
	}
	if err := db.Revoke("never-seen", coreAt(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckCert("never-seen", "x"); !errors.Is(err, state.ErrRevoked) {
		t.Errorf("CheckCert of a name revoked before it was seen = %v, want ErrRevoked", err)
	}
}
