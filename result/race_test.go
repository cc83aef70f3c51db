//go:build race

package result

// raceEnabled reports whether the race detector is on: it makes sync.Pool
// drop what it is given at random, so that counts of allocations vary.
const raceEnabled = true
