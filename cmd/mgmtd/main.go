// Command mgmtd is the management daemon for high-availability clusters and
// its command line. Package cli does the work (the command table, and
// package mgmtd for the daemon); this main only wires signals and the
// process exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"mgmtd/cli"
)

func main() {
	if code, ok := cli.WatchAgent(os.Stdout); ok {
		// crm_mon ran this binary as the watcher's external agent.
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	args := os.Args[1:]
	if filepath.Base(os.Args[0]) == cli.AlertAgentName {
		// Pacemaker runs its alert agents without arguments.
		args = []string{"alert", "notify"}
	}
	code := cli.Main(ctx, args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
