package state

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"time"
)

// Query selects a page of a list kept in time order, newest first:
// history and events.
type Query struct {
	Since, Until time.Time // Since <= Time < Until; a zero time is no bound
	Limit        int       // at most this many; <= 0 is no limit
	// After is a cursor the previous page gave for its last item: the page
	// begins just after it. "" begins with the newest.
	After string
}

// A cursor is the place of an item in a list, opaque to callers and safe
// in a URL: the base64url of the item's key in its bucket, followed for
// results by the name of their series' bucket (results of several series
// are ordered by key, then series).
func encodeCursor(key []byte, series string) string {
	return base64.RawURLEncoding.EncodeToString(append(bytes.Clone(key), series...))
}

// decodeCursor splits a cursor of encodeCursor; "" is no cursor.
func decodeCursor(c string) (key []byte, series string, err error) {
	if c == "" {
		return nil, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < resultKeyLen {
		return nil, "", fmt.Errorf("%w: cursor %q", ErrInvalid, c)
	}
	return b[:resultKeyLen], string(b[resultKeyLen:]), nil
}

// keyAfter returns the smallest key greater than k: k with a zero byte
// after it, since keys compare as bytes.
func keyAfter(k []byte) []byte { return append(bytes.Clone(k), 0) }

// below returns the exclusive upper bound of a scan back in time: the
// smaller of until's bound and upto (nil: none of either is no bound).
func below(until time.Time, upto []byte) []byte {
	var b []byte
	if !until.IsZero() {
		b = boundKey(until)
	}
	if upto != nil && (b == nil || bytes.Compare(upto, b) < 0) {
		b = upto
	}
	return b
}
