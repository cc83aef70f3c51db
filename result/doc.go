// Package result is the result document a check returns: a status that maps
// to the Nagios plugin exit codes, a message, the long output of lines of
// detail after it, optional metrics, and the run time. It is what equus
// sends in a result blob and what helen stores (PROTOCOL.md, Results).
//
// Parse never fails, because a peer's bad document must still become a
// result (status unknown, with a message saying what was wrong), and Encode
// always yields valid JSON no larger than asked, because a blob has a size
// limit on the wire.
//
// The package also reads and writes the text form of a result, a Nagios
// plugin's output as the Monitoring Plugins guidelines define it: Doc.Text
// writes it, ParsePluginOutput, ParsePerfdata and ParseRange read it. A
// threshold is kept as written (a metric's WarnRange and CritRange), since
// a range such as "@3:4" has no one number that says it.
package result
