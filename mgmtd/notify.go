package mgmtd

import (
	"net"
	"strings"
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
