package equus

import (
	"runtime"
	"runtime/debug"
)

// gcPercent is the agent's GOGC. Its live heap is about a megabyte, and
// what sets its size is the collector's floor, a heap goal never under
// 4 MiB times GOGC/100: at 50 the floor is 2 MiB, which
// takes more than a megabyte off the agent's RSS under checks, and each
// collection of so small a heap costs well under a millisecond. It also
// makes the worst case smaller: the heap grows to 1.5 times what is live
// instead of twice.
const gcPercent = 50

// tuneGC sets the collector to gcPercent unless the environment sets
// GOGC, which the Go runtime has read already. lookup is os.LookupEnv.
func tuneGC(lookup func(string) (string, bool)) {
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

// procs is the agent's GOMAXPROCS: how many threads run its Go code at
// once. An agent's work is waiting: on helen, on the plugins it starts
// (processes of their own, which run on every CPU) and on the network;
// its Lua checks take some tens of microseconds each. On one processor a
// check read from helen runs and is answered without waking another
// thread for each step, which took a third of the agent's CPU a check
// (tools/equus-load/run.sh: 38-46 to 26-29 us a stored Lua check with 64
// in flight, and helen's rate up from 13,800-16,700 to 17,900-19,500 a
// second beside it on two cores). Go preempts a long Lua check every 10
// ms, so pings and other checks still get their turn.
const procs = 1

// tuneProcs runs the agent's Go code on procs processors unless the
// environment sets GOMAXPROCS, which the Go runtime has applied already.
func tuneProcs(lookup func(string) (string, bool)) {
	if _, set := lookup("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(procs)
	}
}

// settle gives back, once the agent is up, the memory that only starting
// it took. Start-up runs the package initialisation of the whole binary,
// helen's included, and compiles the check library: the Go heap grew to
// its first goal on garbage, and the kernel mapped the pages of code and
// data those packages touched, 64 KiB around each (fault-around), across
// the whole binary. The heap's free pages go back to the system at once
// rather than as the scavenger gets to them, and the binary's pages are
// unmapped (releaseImage), so that only those the running agent uses
// again come back, from the page cache.
func (a *agent) settle() {
	a.settled.Do(func() {
		debug.FreeOSMemory()
		released, err := releaseImage()
		if err != nil {
			a.log.Debug("giving back the pages of start-up", "err", err)
			return
		}
		a.log.Debug("gave back the pages of start-up", "binary_kib", released>>10)
	})
}
