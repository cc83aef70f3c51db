//go:build !linux

package stage0

import "os/exec"

// setProcAttr does nothing here: only Linux can tie the agent's life to
// stage0's; elsewhere the service manager stops both.
func setProcAttr(cmd *exec.Cmd) {}
