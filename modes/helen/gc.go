package helen

import "runtime/debug"

// gcPercent is helen serve's GOGC. Under load its garbage is that of the
// runs (a check sent, a result parsed, stored and recorded in the status
// table), thousands a second, over a live heap that grows with the
// agents and their schedules: with 1,000 agents of 32 schedules every
// second it is about 130 MiB. At Go's default of 100 the collector ran a
// cycle every second or so and took 7 to 8% of helen's CPU, the heap
// peaking at 290 to 330 MiB; at 200 it takes 2 to 4%, the heap peaking
// at 540 to 650 MiB, that is up to three times what is live (the
// runtime's goal: live + (live + stacks) x GOGC/100). GOGC in the
// environment, which the Go runtime has read already, takes its place:
// GOGC=100 trades the CPU back for the memory.
const gcPercent = 200

// tuneGC sets the collector to gcPercent unless the environment sets
// GOGC. lookup is os.LookupEnv.
func tuneGC(lookup func(string) (string, bool)) {
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}
