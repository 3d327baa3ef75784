// Command mgmtd is the management daemon for high-availability clusters and
// its command line: serve, demo, where, impact, status. The work is done by
// package mgmtd; this main only wires signals and the process exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"mgmtd/mgmtd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := mgmtd.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
