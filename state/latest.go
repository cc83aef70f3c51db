package state

import (
	"encoding/binary"
	"errors"
)

// latest is the record of bucketLatest: the latest result of a check, the
// time its status last changed, and how many results the check's bucket
// holds (so that pruning by count need not walk the bucket). The fixed
// header lets the writer compare times and statuses without decoding JSON:
//
//	count uint64 | since int64 | time int64 | status code byte | result JSON
type latest struct {
	count  uint64
	since  int64 // Unix nanoseconds
	time   int64 // of result, Unix nanoseconds
	code   byte  // Nagios code of the result's status
	result []byte
}

const latestHeader = 8 + 8 + 8 + 1

var errLatestShort = errors.New("latest record too short")

// decodeLatest splits a stored record. Its result points into v.
func decodeLatest(v []byte) (latest, error) {
	if len(v) < latestHeader {
		return latest{}, errLatestShort
	}
	return latest{
		count:  binary.BigEndian.Uint64(v),
		since:  int64(binary.BigEndian.Uint64(v[8:])),
		time:   int64(binary.BigEndian.Uint64(v[16:])),
		code:   v[24],
		result: v[latestHeader:],
	}, nil
}

// encode returns the stored form of l, in new memory.
func (l latest) encode() []byte {
	v := make([]byte, latestHeader, latestHeader+len(l.result))
	binary.BigEndian.PutUint64(v, l.count)
	binary.BigEndian.PutUint64(v[8:], uint64(l.since))
	binary.BigEndian.PutUint64(v[16:], uint64(l.time))
	v[24] = l.code
	return append(v, l.result...)
}
