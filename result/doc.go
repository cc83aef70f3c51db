// Package result is the result document a check returns: a status that maps
// to the Nagios plugin exit codes, a message, optional metrics, and the run
// time. It is what equus sends in a result blob and what helen stores.
//
// Parse never fails, because a peer's bad document must still become a
// result (status unknown, with a message saying what was wrong), and Encode
// always yields valid JSON no larger than asked, because a blob has a size
// limit on the wire.
package result
