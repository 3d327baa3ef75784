package toolexec

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts the tool as the leader of a new process group
// that is killed as a whole on cancellation, and asks the kernel to kill
// the tool when the daemon dies.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		// The negative pid names the group: the tool and its children.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
