package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// PeerCred is the identity of the process at the other end of a unix
// socket, as the kernel reports it (SO_PEERCRED).
type PeerCred struct {
	UID, GID uint32
	PID      int32
}

// PeerCredentials returns the kernel's credentials of c's peer. c must be
// a *net.UnixConn.
func PeerCredentials(c net.Conn) (PeerCred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return PeerCred{}, fmt.Errorf("peer credentials: %T is not a unix socket", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return PeerCred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return PeerCred{}, fmt.Errorf("peer credentials: %w", err)
	}
	if serr != nil {
		return PeerCred{}, fmt.Errorf("peer credentials: SO_PEERCRED: %w", serr)
	}
	return PeerCred{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}, nil
}

type peerKey struct{}

type peerResult struct {
	cred PeerCred
	err  error
}

// ConnContext is meant for http.Server.ConnContext on every server of
// mgmtd's. On a unix socket it records the peer credentials of each
// connection so that [Service.Authenticate] can identify the caller
// (MethodLocal). On any connection it keeps which certificate identities
// were recorded as authenticated on it: a client certificate is verified
// once, at the connection's TLS handshake, so its success is recorded
// for the first request of the connection only (a fleet hub's senders
// push every few seconds on one connection; their audit record is the
// connection, not each push). Failures are always recorded.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	ctx = context.WithValue(ctx, connKey{}, &connRecord{})
	if _, ok := c.(*net.UnixConn); !ok {
		return ctx
	}
	cred, err := PeerCredentials(c)
	return context.WithValue(ctx, peerKey{}, peerResult{cred, err})
}

type connKey struct{}

// connRecord is what a connection's requests have recorded so far.
type connRecord struct {
	mu   sync.Mutex
	cert map[string]bool // identity IDs whose certificate success is recorded
}

// firstCertSuccess reports whether id's certificate success is the first
// on the request's connection (true too without ConnContext: record).
func firstCertSuccess(ctx context.Context, id string) bool {
	c, ok := ctx.Value(connKey{}).(*connRecord)
	if !ok {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert[id] {
		return false
	}
	if c.cert == nil {
		c.cert = map[string]bool{}
	}
	c.cert[id] = true
	return true
}

// peerFromContext returns the peer credentials recorded by ConnContext;
// ok is false for non-unix connections.
func peerFromContext(ctx context.Context) (PeerCred, bool, error) {
	p, ok := ctx.Value(peerKey{}).(peerResult)
	if !ok {
		return PeerCred{}, false, nil
	}
	if p.err != nil {
		return PeerCred{}, true, errors.Join(ErrBadCredentials, p.err)
	}
	return p.cred, true, nil
}
