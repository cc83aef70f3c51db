// Package wire reads and writes the messages of the Equus protocol,
// version 1, spoken between helen (the server) and equus (the agent) over
// TLS with the ALPN name "equus/1".
//
// The protocol is a line protocol in the manner of memcached. A message is
// one command line of space-separated tokens; check and result lines name
// the length of a blob that follows them. The grammar, with SP a space
// (0x20) and LF a line feed (0x0a):
//
//	message  = hello / check / result / error / reload
//	hello    = "hello" SP int SP string LF          ; protocol_version, equus_version
//	check    = "check" SP string SP int SP int LF blob LF    ; name, id, len(args)
//	result   = "result" SP int SP string SP int LF blob LF   ; id, name, len(result)
//	error    = "error" SP string *(SP string) LF    ; a code, and more from later versions
//	reload   = "reload" LF
//
//	int      = "0" / %x31-39 *9DIGIT   ; at most 2147483647
//	string   = 1*250 bytes of UTF-8, none of them 0x00-0x20 or 0x7f
//	blob     = as many bytes as the int before the line end says, at most 1048576
//
// A command line is at most 4096 bytes, its ending included. The equus
// version in hello is a semantic version (1.4.2, v1.4.2, 1.5.0-rc.1,
// 0.0.0-dev); package semver orders them.
//
// A Writer writes exactly this: single spaces and "\n". A Reader also
// accepts runs of spaces between tokens, spaces before the first token and
// after the last, and "\r\n" wherever LF ends a line or a blob. It takes
// the rest of an error line as the message's text, its runs of spaces made
// single. It knows every command word, and reports input that breaks the
// rules as a *ProtocolError whose Code is the one the protocol sends back:
//
//	unknown_command      the command word is not one of the five
//	bad_command          too few or too many tokens
//	bad_argument         a token breaks the rules of its type
//	line_too_long        more than 4096 bytes without a line end
//	blob_too_large       a declared blob length above 1048576, refused from
//	                     the line alone: none of the blob is read or allocated
//	bad_blob_terminator  something other than "\n" or "\r\n" after a blob
//
// A Caller keeps the protocol's rule for message ids on the side that sends
// checks: each check outstanding has an id no other has, from a counter that
// wraps past 2147483647 back to 1; each result goes to the check of its id
// and name, and is dropped otherwise. It does no I/O.
//
// Which side may send which command, the order of messages (hello first),
// and the codes that concern a session (bad_hello, hello_timeout,
// unsupported_protocol_version, not_authorized, shutting_down) are the
// business of the session, not of this package.
package wire
