package state

import (
	"bytes"
	"encoding/binary"
	"time"
)

// The schema, in one place. Adding a bucket does not change the version
// (Open creates any bucket the file lacks); changing what a key or value
// means does, with a migration from the version before (migrate.go).
//
//	1  results of an agent in one bucket per check
//	2  and one per schedule of a check (seriesName): a version 1 bucket is
//	   a version 2 one of a check's results without a schedule
const schemaVersion uint64 = 3

var (
	// bucketMeta holds keySchema, the schema version as 8 big-endian bytes.
	bucketMeta = []byte("meta")
	// bucketAgents maps an agent name to the JSON of agentRecord.
	bucketAgents = []byte("agents")
	// bucketRevoked maps an agent name to the revocation time (timeKey).
	bucketRevoked = []byte("revoked")
	// bucketTokens maps the SHA-256 of a token secret to the JSON of tokenRecord.
	bucketTokens = []byte("tokens")
	// bucketResults holds one bucket per agent, which holds one bucket per
	// series (seriesName: a check, or a schedule of a check), which maps
	// resultKey to the JSON of Result.
	bucketResults = []byte("results")
	// bucketLatest maps latestKey(agent, series) to a latest record (see
	// latest.go).
	bucketLatest = []byte("latest")
	// bucketLog maps logKey(sequence) to a result not yet moved into its
	// series (encodeLog); keyCompact, in bucketMeta, is the round record
	// of its compaction (log.go).
	bucketLog = []byte("log")

	// bucketSchedules maps a schedule name to the JSON of Schedule.
	bucketSchedules = []byte("schedules")
	// bucketStatus maps latestKey(agent, schedule) to the JSON of Status.
	bucketStatus = []byte("status")
	// bucketEvents maps resultKey(time, sequence) to the JSON of Event.
	bucketEvents = []byte("events")
	// bucketDown maps the name of an agent declared down to that time
	// (timeKey).
	bucketDown = []byte("down")

	// bucketRoutes maps a route's name to the JSON of Route.
	bucketRoutes = []byte("routes")
	// bucketSilences maps a silence's id to the JSON of Silence.
	bucketSilences = []byte("silences")
	// bucketAcks maps latestKey(agent, schedule) to the JSON of Ack.
	bucketAcks = []byte("acks")

	// bucketUsers maps an operator's account name to the JSON of User.
	bucketUsers = []byte("users")

	// The outbox of notifications (outbox.go says what each holds).
	bucketOutbox      = []byte("outbox")
	bucketOutboxOpen  = []byte("outbox-open")
	bucketOutboxQueue = []byte("outbox-queue")
	bucketOutboxDue   = []byte("outbox-due")
	bucketOutboxCount = []byte("outbox-count")

	// The graphs' rollups (rollup_flush.go says what each holds);
	// keyRolled, in bucketMeta, is the hour before which the minute tier
	// is in the hour tier.
	bucketRollSeries = []byte("rollup-series")
	bucketRollMinute = []byte("rollup-minute")
	bucketRollHour   = []byte("rollup-hour")

	keySchema  = []byte("schema")
	keyCompact = []byte("compact")
	keyRolled  = []byte("rollup-rolled")

	allBuckets = [][]byte{bucketMeta, bucketAgents, bucketRevoked, bucketTokens, bucketResults, bucketLatest, bucketLog,
		bucketSchedules, bucketStatus, bucketEvents, bucketDown, bucketRoutes, bucketSilences, bucketAcks,
		bucketOutbox, bucketOutboxOpen, bucketOutboxQueue, bucketOutboxDue, bucketOutboxCount, bucketUsers,
		bucketRollSeries, bucketRollMinute, bucketRollHour}
)

// resultKeyLen is the length of a key in a check bucket.
const resultKeyLen = 12

// resultKey is the key of a result: its time in Unix nanoseconds, then seq,
// both big-endian, so that byte order is time order and two results of the
// same nanosecond still have distinct keys.
func resultKey(nanos int64, seq uint32) []byte {
	k := make([]byte, resultKeyLen)
	binary.BigEndian.PutUint64(k, uint64(nanos))
	binary.BigEndian.PutUint32(k[8:], seq)
	return k
}

// boundKey is the smallest key of any result at t.
func boundKey(t time.Time) []byte { return resultKey(t.UnixNano(), 0) }

// keyNanos returns the time part of a result key.
func keyNanos(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }

// latestKey is the key of a series in bucketLatest, and of a schedule's
// status in bucketStatus. Names never hold a NUL (validName), so the key
// splits back unambiguously.
func latestKey(agent, name string) []byte {
	k := make([]byte, 0, len(agent)+1+len(name))
	k = append(k, agent...)
	k = append(k, 0)
	return append(k, name...)
}

// seriesName is the name of the bucket of an agent's results of check
// run by schedule: the check's name for the results no schedule ran (helen
// run, and every result of a version 1 file), else check NUL schedule. So
// two schedules of one check keep their histories, and their bounds, apart.
func seriesName(check, schedule string) string {
	if schedule == "" {
		return check
	}
	return check + "\x00" + schedule
}

// splitSeries returns the check and schedule of a series' name.
func splitSeries(name []byte) (check, schedule string) {
	c, s, _ := bytes.Cut(name, []byte{0})
	return string(c), string(s)
}

// timeKey encodes a time as 8 big-endian bytes of Unix nanoseconds.
func timeKey(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

// keyTime decodes timeKey; a malformed value gives the zero time.
func keyTime(b []byte) time.Time {
	if len(b) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)))
}
