//go:build !linux

package toolexec

import "os/exec"

// ownProcessGroup does nothing where Linux's process controls are missing;
// cancellation kills the tool itself only.
func ownProcessGroup(*exec.Cmd) {}
