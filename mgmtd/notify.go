package mgmtd

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// sdNotify sends state to systemd's notification socket (sd_notify(3)):
// socket is $NOTIFY_SOCKET, a path or an abstract name starting with @.
// Without a socket it does nothing.
func sdNotify(socket, state string) error {
	if socket == "" {
		return nil
	}
	if strings.HasPrefix(socket, "@") {
		socket = "\x00" + socket[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// watchdogInterval is how often to send WATCHDOG=1 (sd_watchdog_enabled(3)):
// half of $WATCHDOG_USEC, when it is set and $WATCHDOG_PID, if set, is this
// process. Zero when systemd runs no watchdog for the daemon; an error for
// a value that is not a positive number of microseconds.
func watchdogInterval(getenv func(string) string) (time.Duration, error) {
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, nil // meant for another process (a parent that exec'd us)
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 {
		return 0, &watchdogError{usec}
	}
	return time.Duration(n) * time.Microsecond / 2, nil
}

type watchdogError struct{ value string }

func (e *watchdogError) Error() string {
	return "WATCHDOG_USEC=" + strconv.Quote(e.value) + ": not a positive number of microseconds"
}

// watchdog sends WATCHDOG=1 to socket every interval until ctx is done.
// The pings come from the daemon's own goroutine, so a daemon that is
// wedged as a whole (or stopped by a debugger) misses them and systemd
// restarts it; a failed ping is logged once per failure streak.
func watchdog(ctx context.Context, log *slog.Logger, socket string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		err := sdNotify(socket, "WATCHDOG=1")
		switch {
		case err != nil && !failing:
			log.Warn("systemd watchdog notification failed", "err", err)
			failing = true
		case err == nil:
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
