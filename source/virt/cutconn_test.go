package virt

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// unixPair returns both ends of a real unix-socket connection: the kernel's
// semantics (EOF, deadlines) are what a daemon sees.
func unixPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// startReader reads like go-libvirt's reader until an error, which it
// returns on the channel.
func startReader(c io.Reader) <-chan error {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

func waitErr(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing after 10 s", what)
		return nil
	}
}

// TestCutConnLetsTheDaemonAnswer: a cut connection ends the client's
// reader at once but stays open, so a stalled daemon can still answer the
// call it received; it closes when the daemon closes or its owner stops.
func TestCutConnLetsTheDaemonAnswer(t *testing.T) {
	client, server := unixPair(t)
	cc := newCutConn(client, time.Hour)
	readerDone := make(chan struct{})
	readErr := startReader(cc)
	if _, err := cc.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 7)
	if _, err := io.ReadFull(server, got); err != nil || string(got) != "request" {
		t.Fatalf("daemon read %q, %v", got, err)
	}

	cc.abandon()
	if err := waitErr(t, readErr, "reader after the cut"); !errors.Is(err, io.EOF) {
		t.Errorf("reader after the cut: %v, want io.EOF", err)
	}
	close(readerDone)
	if _, err := cc.Write([]byte("more")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after the cut: %v, want net.ErrClosed", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cc.release(ctx, readerDone)

	// The daemon, resumed, finds the connection open and nothing new on it.
	_ = server.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := server.Read(got); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("daemon read %d bytes, %v after the cut; want the connection open and quiet", n, err)
	}
	if _, err := server.Write([]byte("reply")); err != nil {
		t.Fatalf("the daemon could not answer: %v", err)
	}
	// The owner stops: the lingering connection closes. A close before
	// the drain has read the reply reads as a reset on a unix socket.
	cancel()
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := server.Read(got); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("daemon read after the owner stopped: %v, want the connection closed", err)
	}
	checkNoLeaks(t)
}

// TestCutConnClosesAfterLinger: a daemon that never answers is closed
// when the linger ends; one that closes first ends the linger.
func TestCutConnClosesAfterLinger(t *testing.T) {
	for _, daemonCloses := range []bool{false, true} {
		client, server := unixPair(t)
		linger := 50 * time.Millisecond
		if daemonCloses {
			linger = time.Hour
		}
		cc := newCutConn(client, linger)
		readerDone := make(chan struct{})
		close(readerDone)
		cc.abandon()
		cc.release(context.Background(), readerDone)
		if daemonCloses {
			server.Close()
		} else {
			_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := server.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("daemon read after the linger: %v, want io.EOF", err)
			}
		}
		checkNoLeaks(t)
	}
}

// noDeadlines is a connection without read deadlines, like the ssh
// transport's child process.
type noDeadlines struct{ net.Conn }

func (noDeadlines) SetReadDeadline(time.Time) error { return errors.ErrUnsupported }

// TestCutConnWithoutDeadlines: a connection that cannot wake its reader
// with a deadline is closed by the cut, as before.
func TestCutConnWithoutDeadlines(t *testing.T) {
	client, server := unixPair(t)
	cc := newCutConn(noDeadlines{client}, time.Hour)
	readErr := startReader(cc)
	cc.abandon()
	if err := waitErr(t, readErr, "reader after the cut"); err == nil {
		t.Error("reader kept reading")
	}
	cc.release(context.Background(), nil)
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := server.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("daemon read after the cut: %v, want io.EOF (closed at once)", err)
	}
}
