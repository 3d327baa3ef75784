// Package pgtest runs private PostgreSQL servers for tests that stop,
// crash or restart the database (initdb in a temporary directory, a free
// loopback port), so the shared server on 5432 is never touched. It is
// imported by _test.go files only.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mgmtd/internal/testutil"
)

// Server is a private PostgreSQL server. Its default is
// synchronous_commit=off: the audit writer must turn it on for its own
// sessions.
type Server struct {
	bin, dir, data string
	// Port is the server's loopback port.
	Port int
	// DSN connects as the superuser postgres to the database postgres.
	DSN string
}

// BinDir returns the directory of the PostgreSQL server binaries (initdb,
// pg_ctl), failing the test when there is none.
func BinDir(t testing.TB) string {
	t.Helper()
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := string(out[:len(out)-1])
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	ds, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(ds)
	for i := len(ds) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(ds[i], "initdb")); err == nil {
			return ds[i]
		}
	}
	t.Fatal("PostgreSQL server binaries (initdb, pg_ctl) are required: run scripts/deps.d/postgres.sh")
	return ""
}

// freePort returns a free port below Linux's ephemeral range (32768 and
// up): the private server is stopped and restarted on its port, and an
// ephemeral port could meanwhile become the local end of any outgoing
// connection on the machine, so the restart could not bind it. (This is
// why it is not testutil.FreePort, which hands out ephemeral ports.)
func freePort(t testing.TB) int {
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port in 20000-31999")
	return 0
}

// cmd runs a PostgreSQL tool, as the postgres user when we are root (the
// server refuses to run as root).
func (p *Server) cmd(name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (p *Server) run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := p.cmd(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// Start creates and starts a private server; it is stopped and removed
// when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	p := &Server{bin: BinDir(t), Port: freePort(t)}
	dir, err := os.MkdirTemp("", "mgmtd-audit-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir, p.data = dir, filepath.Join(dir, "data")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("user postgres is required: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = p.cmd("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop").Run()
		os.RemoveAll(dir)
	})
	p.run(t, "initdb", "-D", p.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"+
		"fsync = on\nsynchronous_commit = off\nmax_connections = 50\nshared_buffers = 32MB\n", p.Port, dir)
	f, err := os.OpenFile(filepath.Join(p.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(conf)
	f.Close()
	p.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
	p.Start(t)
	return p
}

// Start starts the (stopped) server and waits until it takes connections.
func (p *Server) Start(t testing.TB) {
	t.Helper()
	p.run(t, "pg_ctl", "-D", p.data, "-l", filepath.Join(p.dir, "log"), "-w", "-t", "60", "start")
	var err error
	if !testutil.Poll(30*time.Second, func() bool {
		var c *pgx.Conn
		if c, err = pgx.Connect(context.Background(), p.DSN); err != nil {
			return false
		}
		c.Close(context.Background())
		return true
	}) {
		t.Fatalf("private PostgreSQL not ready: %v", err)
	}
}

// Stop stops the server: mode "immediate" is a crash (recovery at the next
// start), "fast" a clean outage.
func (p *Server) Stop(t testing.TB, mode string) {
	t.Helper()
	p.run(t, "pg_ctl", "-D", p.data, "-m", mode, "-w", "stop")
}

var dbCount atomic.Int64

// NewDB creates an empty database on the server a superuser reaches at
// server (the shared one on 5432, or a private Server's DSN), named
// prefix_PID_N so that parallel runs never meet, and drops it when the
// test ends. dsn builds a connection string to it for a user ("" for the
// server DSN's own user). A server that cannot be reached fails the test
// with how to start one.
func NewDB(t testing.TB, server, prefix string) (name string, dsn func(user string) string) {
	t.Helper()
	ctx := context.Background()
	name = fmt.Sprintf("%s_%d_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6, dbCount.Add(1))
	c, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("PostgreSQL at %s is required (run scripts/deps.d/postgres.sh): %v", server, err)
	}
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		c.Close(ctx)
		t.Fatalf("create database: %v", err)
	}
	c.Close(ctx)
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Logf("drop database %s: %v", name, err) // a private server already gone
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg, err := pgx.ParseConfig(server)
	if err != nil {
		t.Fatal(err)
	}
	return name, func(user string) string {
		if user == "" {
			user = cfg.User
		}
		return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", user, cfg.Host, cfg.Port, name)
	}
}
