// Package pki is helen's certificate authority and the TLS settings built on
// it.
//
// Helen keeps one CA in its data directory. It signs helen's server
// certificate (ServerAuth) and one client certificate per agent (ClientAuth),
// whose Common Name is the agent's name. Helen's server always sends its full
// chain, leaf then CA, so that an agent that knows only the CA's pin can find
// the CA in it.
//
// An agent trusts helen either by a CA file or by a pin: "sha256:" and the
// hex SHA-256 of the CA certificate's DER bytes. Go's TLS client cannot
// verify against a root it does not have, and this package never turns
// verification off to get around that. Instead, Trust.Resolve (FetchCA) runs
// one probing handshake that trusts nothing at all: the client refuses the
// chain, as it must, and the refusal carries the certificates the server
// presented. The one whose fingerprint equals the pin becomes the only root
// of every later connection, which is then verified the ordinary way
// (RootCAs, server name, ExtKeyUsageServerAuth, validity). No application
// data ever crosses the probing connection.
//
// Agent certificates live as long as the CA's client lifetime (a year by
// default) and are renewed at two thirds of it (RenewAt, RenewCSR): a new
// key under the same name. ReplaceKeyPair writes a renewed pair so that a
// crash at any point leaves a pair LoadKeyPair loads.
package pki
