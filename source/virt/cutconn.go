package virt

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// DefaultLinger is how long a connection abandoned after a timed-out call
// stays open to let the daemon answer what it already received.
const DefaultLinger = 30 * time.Second

// cutConn is the connection go-libvirt reads and writes. A call that times
// out cuts it: go-libvirt reads the end of the stream and fails its
// pending calls at once, but the socket itself stays open. release then
// drains it for a while before closing, so that a daemon that was only
// stalled answers the calls it had received before mgmtd goes away.
//
// Closing at once is what crashes libvirt 9.0's daemon: a client that
// disconnects while one of its calls is being processed leaves the worker
// thread holding the last reference to the client, and freeing it there
// races the main loop's dispatch of the client's socket (a use-after-free,
// SIGSEGV; seen in about one in a hundred runs of a frozen and resumed
// libvirtd, backtraces in docs/virt.md, "Behaviour"). A daemon that
// stays silent for the whole linger is closed anyway.
//
// A connection without read deadlines (the ssh transport's child process)
// cannot be cut without closing it, and is closed at once as before.
type cutConn struct {
	net.Conn
	linger time.Duration

	once   sync.Once
	cut    chan struct{} // closed by abandon
	closed bool          // abandon had to close: nothing to drain
}

func newCutConn(c net.Conn, linger time.Duration) *cutConn {
	if linger <= 0 {
		linger = DefaultLinger
	}
	return &cutConn{Conn: c, linger: linger, cut: make(chan struct{})}
}

func (c *cutConn) isCut() bool {
	select {
	case <-c.cut:
		return true
	default:
		return false
	}
}

// Read reads from the socket until the connection is cut, then reports
// the end of the stream.
func (c *cutConn) Read(p []byte) (int, error) {
	if c.isCut() {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if err != nil && c.isCut() {
		return n, io.EOF
	}
	return n, err
}

// Write refuses to send anything once the connection is cut: a request
// sent then would be one more call in flight when the socket closes.
func (c *cutConn) Write(p []byte) (int, error) {
	if c.isCut() {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

// abandon cuts the connection: a blocked Read returns io.EOF now. It is
// safe to call more than once and from any goroutine.
func (c *cutConn) abandon() {
	c.once.Do(func() {
		close(c.cut)
		if err := c.Conn.SetReadDeadline(time.Now()); err != nil {
			// No deadlines: the only way to wake the reader is to close.
			c.closed = true
			_ = c.Conn.Close()
		}
	})
}

// release closes the connection: at once when it was not cut, else after
// draining until the daemon closes, the linger ends or ctx is done.
// readerDone is closed when go-libvirt's reader has stopped reading.
func (c *cutConn) release(ctx context.Context, readerDone <-chan struct{}) {
	if !c.isCut() {
		_ = c.Conn.Close()
		return
	}
	c.once.Do(func() {}) // abandon has finished: closed is settled
	if c.closed {
		return
	}
	go c.drain(ctx, readerDone)
}

func (c *cutConn) drain(ctx context.Context, readerDone <-chan struct{}) {
	defer c.Conn.Close()
	select {
	case <-readerDone:
	case <-ctx.Done():
		return
	}
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.linger)); err != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Conn.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 4096)
	for {
		if _, err := c.Conn.Read(buf); err != nil {
			return // the daemon closed, the linger ended or ctx is done
		}
	}
}
