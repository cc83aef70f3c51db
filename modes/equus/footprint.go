package equus

import "runtime/debug"

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
