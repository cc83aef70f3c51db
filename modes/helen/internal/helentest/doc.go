// Package helentest holds what helen's tests share: an agent over real TLS
// that answers checks as a test says (Agent), and clients of the agents'
// port that write what they like (RawConn). It knows helen only by its
// address and CA, so that every package's tests can use it.
package helentest
