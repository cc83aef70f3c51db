package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Helens that share a store call each other over mutual TLS: each presents
// a peer certificate of the shared CA that names it as a helen, by a URI
// `equus-helen:<id>` and by a DNS name `<id>.helen.equus.invalid` (a name
// of the reserved .invalid domain, which no resolver answers and no other
// certificate of the CA carries: helen's server certificate names real
// hosts, an agent's names nobody). The DNS name is what the client
// verifies the ordinary way (crypto/tls checks it as the server name, so
// a helen reaches the helen it meant to or none, whatever the address
// dialed); the URI is what says "a helen" to both sides, and what an
// agent's certificate, or helen's server certificate, never has.

// File names of a helen's peer certificate in its data directory.
const (
	peerCertFile = "peer.pem"
	peerKeyFile  = "peer-key.pem"
)

// PeerScheme is the scheme of the URI that names a helen in its peer
// certificate.
const PeerScheme = "equus-helen"

// peerDomain is the domain under which a peer certificate's DNS name is
// its helen's ID.
const peerDomain = ".helen.equus.invalid"

// maxHelenID bounds a helen's ID, in bytes: room under maxDNSName for the
// domain of its peer name.
const maxHelenID = maxDNSName - len(peerDomain)

// maxDNSLabel is the longest label of a DNS name, in bytes.
const maxDNSLabel = 63

// ErrNotPeer is returned, wrapped, for a certificate that does not name a
// helen: an agent's, a helen's server certificate, any other.
var ErrNotPeer = errors.New("pki: not a helen's peer certificate")

// CheckHelenID reports what keeps id from being a helen's ID, which its
// peer certificate names: a DNS name (CheckSAN's rule) of at most
// maxHelenID bytes and labels of at most 63, no wildcard.
func CheckHelenID(id string) error {
	bad := func(why string) error {
		return fmt.Errorf("bad helen ID %q: %s (want a DNS name of A-Z a-z 0-9 - _ and dots, at most %d bytes)", id, why, maxHelenID)
	}
	switch {
	case id == "":
		return bad("empty")
	case len(id) > maxHelenID:
		return bad(fmt.Sprintf("%d bytes", len(id)))
	case id[0] == '*':
		return bad("a wildcard")
	}
	for _, label := range strings.Split(id, ".") {
		if len(label) > maxDNSLabel {
			return bad(fmt.Sprintf("a label of %d bytes, more than %d", len(label), maxDNSLabel))
		}
	}
	if err := CheckSAN(id + peerDomain); err != nil {
		return bad(err.Error())
	}
	return nil
}

// PeerServerName returns the name a helen's peer certificate is verified
// for: the server name a helen dialing the helen id sets.
func PeerServerName(id string) string { return id + peerDomain }

// peerURI returns the URI that names the helen id.
func peerURI(id string) *url.URL { return &url.URL{Scheme: PeerScheme, Opaque: id} }

// PeerID returns the ID of the helen a peer certificate names: its only
// URI of scheme equus-helen, which its DNS name must match. Any other
// certificate is ErrNotPeer.
func PeerID(cert *x509.Certificate) (string, error) {
	var ids []string
	for _, u := range cert.URIs {
		if u.Scheme == PeerScheme {
			ids = append(ids, u.Opaque)
		}
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("%w: %d URIs naming a helen, want 1", ErrNotPeer, len(ids))
	}
	id := ids[0]
	if err := CheckHelenID(id); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotPeer, err)
	}
	if !slices.Equal(cert.DNSNames, []string{PeerServerName(id)}) {
		return "", fmt.Errorf("%w: DNS names %q, want only %s", ErrNotPeer, cert.DNSNames, PeerServerName(id))
	}
	return id, nil
}

// IssuePeer makes the peer certificate of the helen id with a new key,
// valid for a year, for both ends of a connection between helens
// (ServerAuth and ClientAuth). The chain holds the leaf and the CA.
func (ca *CA) IssuePeer(id string, now time.Time) (tls.Certificate, error) {
	key, err := newKey()
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue peer certificate: %w", err)
	}
	return ca.issuePeer(key, id, now)
}

func (ca *CA) issuePeer(key crypto.Signer, id string, now time.Time) (tls.Certificate, error) {
	if err := CheckHelenID(id); err != nil {
		return tls.Certificate{}, fmt.Errorf("issue peer certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: PeerServerName(id)},
		DNSNames:    []string{PeerServerName(id)},
		URIs:        []*url.URL{peerURI(id)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	cert, err := ca.sign(tmpl, key.Public(), now, leafLifetime)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue peer certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw, ca.Cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// LoadOrCreatePeer loads the peer certificate of the helen id from
// dir/peer.pem and dir/peer-key.pem, and issues a new one (with the key
// there, or a new one) when there is none, when it names another helen,
// when it expires within 30 days or when another CA signed it: the shared
// CA of the helens is what the others trust it by.
func LoadOrCreatePeer(dir string, ca *CA, id string) (tls.Certificate, error) {
	if err := CheckHelenID(id); err != nil {
		return tls.Certificate{}, fmt.Errorf("peer certificate: %w", err)
	}
	certPath := filepath.Join(dir, peerCertFile)
	keyPath := filepath.Join(dir, peerKeyFile)
	now := time.Now()
	key, kept, err := keyAt(keyPath, "peer certificate")
	if err != nil {
		return tls.Certificate{}, err
	}
	if kept {
		cert, err := LoadKeyPair(certPath, keyPath)
		if err == nil && peerCertCurrent(cert, ca, id, now) {
			return cert, nil
		}
	}
	cert, err := ca.issuePeer(key, id, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := ca.writeChain(certPath, cert, "peer certificate"); err != nil {
		return tls.Certificate{}, err
	}
	return cert, nil
}

// peerCertCurrent reports whether cert can be used as is: this CA signed
// it, it names the helen id and it does not expire within renewBefore.
func peerCertCurrent(cert tls.Certificate, ca *CA, id string, now time.Time) bool {
	leaf := cert.Leaf
	if len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[1], ca.Cert.Raw) || leaf.CheckSignatureFrom(ca.Cert) != nil {
		return false
	}
	if now.Add(renewBefore).After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return false
	}
	got, err := PeerID(leaf)
	return err == nil && got == id
}

// PeerServerConfig returns the TLS configuration of a helen's peer
// listener: the client must present a certificate of the CA (ClientAuth
// usage, validity) that names a helen (PeerID); an agent's certificate,
// or none, ends the handshake. alpn lists the protocols served.
func PeerServerConfig(ca *CA, cert tls.Certificate, alpn []string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
		NextProtos:   slices.Clone(alpn),
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := PeerOf(cs)
			return err
		},
	}
}

// PeerOf returns the ID of the helen at the other end of a connection
// between helens: that of the verified certificate it presented.
func PeerOf(cs tls.ConnectionState) (string, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", fmt.Errorf("%w: no verified certificate", ErrNotPeer)
	}
	return PeerID(cs.VerifiedChains[0][0])
}

// PeerClientConfig returns the TLS configuration of a helen calling the
// helen id: it presents cert, and verifies the other's certificate against
// the CA as the only root for id's peer name (PeerServerName), ServerAuth
// usage, and that it names that helen and no other.
func PeerClientConfig(ca *CA, cert tls.Certificate, id string, alpn []string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      ca.Pool(),
		ServerName:   PeerServerName(id),
		NextProtos:   slices.Clone(alpn),
		VerifyConnection: func(cs tls.ConnectionState) error {
			got, err := PeerOf(cs)
			if err != nil {
				return err
			}
			if got != id {
				return fmt.Errorf("%w: it names helen %s, not %s", ErrNotPeer, got, id)
			}
			return nil
		},
	}
}
