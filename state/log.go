package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The results log. The writer appends every result to one bucket, keyed
// by a sequence in commit order, so that a batch of results dirties the
// few pages at the end of the log whatever series they belong to, instead
// of a leaf, a branch and an agent's page of each result's series. The
// compactor (compact.go) later moves the log into the buckets of the
// series by rounds: a round takes the oldest entries of the log, up to
// roundMax, and moves them series by series, in the order of their
// latestKey, in steps of a bounded size, each one transaction that also
// records how far the round has come (the round record, in bucketMeta
// under keyCompact); once every series of the round is moved, it deletes
// the round's entries from the head of the log. So a series' leaf is
// written once a round for all its results of the round, and the log's
// pages are freed whole.
//
// A reader sees the series' buckets and the entries of the log that the
// round record does not count as moved (visible), in one transaction, so
// nothing is seen twice or missed at any point of a round, and a crash
// (between two transactions: bolt's commits are atomic) leaves a file
// whose reads are those of before it. A result's key in its series is
// resultKey(its time, the low 32 bits of its log sequence) before and
// after it is moved, so cursors stay valid across a compaction.

// logKey is the key of a log entry: its sequence, 8 bytes big-endian.
func logKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// logEntry is a decoded entry of the log. Its value points into the
// transaction's memory.
type logEntry struct {
	seq    uint64
	agent  string
	series string // seriesName
	nanos  int64
	code   byte
	value  []byte // the JSON of Result
}

// encodeLog returns the stored form of a log entry:
//
//	uvarint len(agent) | agent | uvarint len(series) | series | time int64 | status code byte | result JSON
//
// The agent comes first so that a reader of one agent's results skips the
// others' without decoding them.
func encodeLog(agent, series string, nanos int64, code byte, value []byte) []byte {
	v := make([]byte, 0, 2*binary.MaxVarintLen16+len(agent)+len(series)+9+len(value))
	v = binary.AppendUvarint(v, uint64(len(agent)))
	v = append(v, agent...)
	v = binary.AppendUvarint(v, uint64(len(series)))
	v = append(v, series...)
	v = binary.BigEndian.AppendUint64(v, uint64(nanos))
	v = append(v, code)
	return append(v, value...)
}

var errLogEntry = errors.New("malformed log entry")

// logAgent returns the agent of a stored log entry, pointing into v.
func logAgent(v []byte) ([]byte, error) {
	n, w := binary.Uvarint(v)
	if w <= 0 || n > uint64(len(v)-w) {
		return nil, errLogEntry
	}
	return v[w : w+int(n)], nil
}

// decodeLog splits a stored log entry.
func decodeLog(k, v []byte) (logEntry, error) {
	if len(k) != 8 {
		return logEntry{}, fmt.Errorf("log key %x: %w", k, errLogEntry)
	}
	e := logEntry{seq: binary.BigEndian.Uint64(k)}
	var parts [2][]byte
	rest := v
	for i := range parts {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return logEntry{}, fmt.Errorf("log entry %d: %w", e.seq, errLogEntry)
		}
		parts[i], rest = rest[w:w+int(n)], rest[w+int(n):]
	}
	if len(rest) < 9 {
		return logEntry{}, fmt.Errorf("log entry %d: %w", e.seq, errLogEntry)
	}
	e.agent, e.series = string(parts[0]), string(parts[1])
	e.nanos = int64(binary.BigEndian.Uint64(rest))
	e.code = rest[8]
	e.value = rest[9:]
	return e, nil
}

// key is the entry's key in its series' bucket.
func (e logEntry) key() []byte { return resultKey(e.nanos, uint32(e.seq)) }

// latestKey is the key of the entry's series in bucketLatest.
func (e logEntry) latestKey() string { return string(latestKey(e.agent, e.series)) }

// round is the round record: how far the round in progress has moved
// the log into the series. An entry is moved (and no longer visible in the
// log) when its sequence is at most upto and, while the round moves
// series, its series comes before series in latestKey order, or is series
// and the entry is at most seq; once the round deletes (every series
// moved), every entry up to upto is.
type round struct {
	active   bool
	upto     uint64
	deleting bool
	series   string // latestKey of the series moved last
	seq      uint64 // the last sequence of series moved
}

// encode returns the stored form: upto | seq | deleting byte | series.
func (r round) encode() []byte {
	v := binary.BigEndian.AppendUint64(nil, r.upto)
	v = binary.BigEndian.AppendUint64(v, r.seq)
	d := byte(0)
	if r.deleting {
		d = 1
	}
	return append(append(v, d), r.series...)
}

// getRoundTx reads the round record; none is no round in progress.
func getRoundTx(tx *bolt.Tx) (round, error) {
	v := tx.Bucket(bucketMeta).Get(keyCompact)
	if v == nil {
		return round{}, nil
	}
	if len(v) < 17 || v[16] > 1 {
		return round{}, corruptError(tx.DB().Path(), fmt.Sprintf("malformed round record %x", v))
	}
	return round{
		active:   true,
		upto:     binary.BigEndian.Uint64(v),
		seq:      binary.BigEndian.Uint64(v[8:]),
		deleting: v[16] == 1,
		series:   string(v[17:]),
	}, nil
}

// putRoundTx writes the round record, or deletes it for no round.
func putRoundTx(tx *bolt.Tx, r round) error {
	if !r.active {
		return tx.Bucket(bucketMeta).Delete(keyCompact)
	}
	return tx.Bucket(bucketMeta).Put(keyCompact, r.encode())
}

// moved reports whether the round has moved the entry of series lk
// (a latestKey) and sequence seq into its series.
func (r round) moved(lk string, seq uint64) bool {
	if !r.active || seq > r.upto {
		return false
	}
	return r.deleting || lk < r.series || (lk == r.series && seq <= r.seq)
}

// visibleLogTx returns the entries of the log that are not moved yet, of
// agent ("" for every agent), in the order of the log. Their values point
// into the transaction's memory. It reads the whole log, which the writer
// keeps within maxLog entries.
func visibleLogTx(tx *bolt.Tx, agent string) ([]logEntry, error) {
	r, err := getRoundTx(tx)
	if err != nil {
		return nil, err
	}
	var out []logEntry
	c := tx.Bucket(bucketLog).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if agent != "" {
			a, err := logAgent(v)
			if err != nil {
				return nil, corruptError(tx.DB().Path(), fmt.Sprintf("log entry %x: %v", k, err))
			}
			if string(a) != agent {
				continue
			}
		}
		e, err := decodeLog(k, v)
		if err != nil {
			return nil, corruptError(tx.DB().Path(), err.Error())
		}
		if !r.moved(e.latestKey(), e.seq) {
			out = append(out, e)
		}
	}
	return out, nil
}

// add counts a result of the series into l, as the writer did when it
// wrote results into their series at once: the latest is the result of
// the latest time (the later written of equal times), and since changes
// with the status of the latest. *found reports whether l held a result
// before; it does after.
func (l *latest) add(found *bool, nanos int64, code byte, value []byte) {
	l.count++
	if !*found || nanos >= l.time {
		if !*found || code != l.code {
			l.since = nanos
		}
		l.time, l.code, l.result = nanos, code, value
	}
	*found = true
}

// bumpSeq returns k with its sequence one more (wrapping within its 32
// bits), for a key a series holds already.
func bumpSeq(k []byte) []byte {
	k = bytes.Clone(k)
	binary.BigEndian.PutUint32(k[8:], binary.BigEndian.Uint32(k[8:])+1)
	return k
}

// trimmedLowTx returns the smallest key of series (of bucket b, nil for
// none yet) that stays once its entries logs (visible, in log order) are
// moved into it and the series trimmed to HistoryMaxPerCheck, as moveTx
// does: the lowest keys of the two go first. Nil is no bound.
func (db *DB) trimmedLowTx(lb, b *bolt.Bucket, agent, series string, logs []logEntry) ([]byte, error) {
	if len(logs) == 0 {
		return nil, nil
	}
	l, _, err := getLatestTx(lb, latestKey(agent, series))
	if err != nil {
		return nil, err
	}
	keep := uint64(db.opt.HistoryMaxPerCheck)
	total := l.count + uint64(len(logs))
	if total <= keep {
		return nil, nil
	}
	keys := make([][]byte, len(logs))
	for i, e := range logs {
		keys[i] = e.key()
	}
	slices.SortFunc(keys, bytes.Compare)
	var k []byte
	var c *bolt.Cursor
	if b != nil {
		c = b.Cursor()
		k, _ = c.First()
	}
	var last []byte
	for n := total - keep; n > 0; n-- {
		switch {
		case k != nil && (len(keys) == 0 || bytes.Compare(k, keys[0]) < 0):
			last = k
			k, _ = c.Next()
		case len(keys) > 0:
			last, keys = keys[0], keys[1:]
		default:
			n = 1 // fewer results than counted: all of them go
		}
	}
	if last == nil {
		return nil, nil
	}
	return keyAfter(last), nil
}
