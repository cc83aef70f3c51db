//go:build !unix

package netlimit

// FDLimit returns how many connections helen budgets for where the system
// sets no descriptor limit it can read.
func FDLimit() int { return fdLimitUnknown }
