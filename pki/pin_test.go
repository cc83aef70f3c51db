package pki

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"
)

// TestPinnedTrust runs the pinned path end to end against servers that
// present good and bad chains: Resolve must find helen's CA only when the
// chain is really helen's, and ordinary verification with that CA must
// refuse the same bad chains.
func TestPinnedTrust(t *testing.T) {
	ca := testCA(t, "helen test CA")
	other := testCA(t, "another CA")
	now := time.Now()
	issue := func(ca *CA, sans []string, at time.Time) tls.Certificate {
		cert, err := ca.IssueServer(sans, at)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	good := issue(ca, []string{"127.0.0.1"}, now)
	foreign := issue(other, []string{"127.0.0.1"}, now)
	// The leaf of another CA, sent with helen's CA: the pin matches a
	// certificate of the chain, but not the one that signed the leaf.
	foreign.Certificate = [][]byte{foreign.Certificate[0], ca.Cert.Raw}
	expired := issue(ca, []string{"127.0.0.1"}, now.Add(-2*leafLifetime))
	leafOnly := issue(ca, []string{"127.0.0.1"}, now)
	leafOnly.Certificate = leafOnly.Certificate[:1]

	tests := []struct {
		name       string
		cert       tls.Certificate
		pin        string
		serverName string
		wantErr    error // nil: works; errAny: fails somehow
		// chainOK: the chain is good for a client that already has
		// helen's CA; only the pinned path needs the CA in the chain.
		chainOK bool
	}{
		{"right-pin", good, ca.Pin(), "127.0.0.1", nil, true},
		{"right-pin-host-from-addr", good, ca.Pin(), "", nil, true},
		{"wrong-pin", good, other.Pin(), "127.0.0.1", ErrPinMismatch, false},
		{"pin-of-leaf", good, Fingerprint(good.Leaf), "127.0.0.1", ErrPinMismatch, false},
		{"leaf-from-other-ca", foreign, ca.Pin(), "127.0.0.1", errAny, false},
		{"wrong-host", good, ca.Pin(), "helen.example", errAny, false},
		{"expired-leaf", expired, ca.Pin(), "127.0.0.1", errAny, false},
		{"ca-not-sent", leafOnly, ca.Pin(), "127.0.0.1", ErrPinMismatch, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, ServerConfig(ca, tt.cert, nil))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client := testClientCert(t, ca, "web-1", now)

			trust, err := Trust{Pin: tt.pin}.Resolve(ctx, srv.addr, tt.serverName)
			if probe := srv.next(t); probe.err == nil {
				t.Error("the probing handshake completed on the server")
			}
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("Resolve accepted the server")
				}
				if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
					t.Fatalf("Resolve: %v, want %v", err, tt.wantErr)
				}
				if tt.chainOK {
					return
				}
				// Given helen's CA outright, the ordinary verification must
				// refuse the same server.
				cfg, err := ClientConfig(Trust{CA: ca.Cert, Pin: tt.pin}, tt.serverName, &client, nil)
				if err == nil {
					_, _, err = talk(t, srv.addr, cfg)
				}
				if err == nil {
					t.Fatal("handshake succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !trust.CA.Equal(ca.Cert) {
				t.Fatalf("Resolve found %s, want helen's CA", Fingerprint(trust.CA))
			}
			cfg, err := ClientConfig(trust, tt.serverName, &client, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := talk(t, srv.addr, cfg)
			if err != nil || got != "web-1" {
				t.Fatalf("talk: %q, %v", got, err)
			}
		})
	}
}

func TestResolveKeepsKnownCA(t *testing.T) {
	ca := testCA(t, "helen test CA")
	// No server listens at this address: a Trust that needs no fetching
	// must not dial.
	const nowhere = "127.0.0.1:1"
	for _, in := range []Trust{{CAFile: "ca.pem", Pin: ca.Pin()}, {CA: ca.Cert, Pin: ca.Pin()}} {
		out, err := in.Resolve(context.Background(), nowhere, "")
		if err != nil || out != in {
			t.Errorf("Resolve(%+v) = %+v, %v", in, out, err)
		}
	}
}

func TestFetchCAErrors(t *testing.T) {
	ca := testCA(t, "helen test CA")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name, addr, pin string
		want            error
	}{
		{"bad-pin", "127.0.0.1:1", "md5:00", ErrBadPin},
		{"bad-addr", "no-port", ca.Pin(), errAny},
		{"cancelled", "127.0.0.1:1", ca.Pin(), errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FetchCA(ctx, tt.addr, "", tt.pin)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != errAny && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}
