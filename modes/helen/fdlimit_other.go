//go:build !unix

package helen

// fdLimit returns how many connections helen budgets for where the system
// sets no descriptor limit it can read.
func fdLimit() int { return fdLimitUnknown }
