// Command mgmtd is the management daemon for high-availability clusters and
// its command line. Package cli does the work (the command table, and
// package mgmtd for the daemon); this main only wires signals and the
// process exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"mgmtd/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
