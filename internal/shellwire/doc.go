// Package shellwire is the codec of a shell session's frames: the bytes
// that travel on an agent's shell connection (ALPN equus-shell/1) and on the
// admin API connection of helen shell, so that helen relays frame by frame
// and both ends speak the same codec.
//
// A frame is one byte of type, four bytes of big-endian payload length and
// the payload, at most MaxPayload bytes. A longer length is a protocol error
// that ends the session: the reader never allocates more than MaxPayload.
//
// The package imports only the standard library and knows nothing of TLS,
// processes or terminals.
package shellwire
