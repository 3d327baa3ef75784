package pamauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"mgmtd/auth"
)

// pamUsers are the throwaway pam_userdb accounts; no system account is
// involved.
var pamUsers = map[string]string{"alice": "s3cret-alice", "bob": "hunter2-bob"}

// privatePAM writes a PAM configuration directory with service
// "mgmtd-test" that checks pamUsers with pam_userdb, and returns it.
func privatePAM(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var list bytes.Buffer
	for user, pw := range pamUsers {
		out, err := exec.Command("openssl", "passwd", "-6", pw).Output()
		if err != nil {
			t.Fatalf("openssl passwd (installed by scripts/deps.d/auth.sh): %v", err)
		}
		fmt.Fprintf(&list, "%s\n%s", user, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.txt"), list.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("db_load", "-T", "-t", "hash", "-f", filepath.Join(dir, "users.txt"), filepath.Join(dir, "users.db")).CombinedOutput(); err != nil {
		t.Fatalf("db_load (db-util, installed by scripts/deps.d/auth.sh): %v: %s", err, out)
	}
	if err := os.Mkdir(filepath.Join(dir, "pam.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("auth    required pam_userdb.so db=%s crypt=crypt\naccount required pam_permit.so\n", filepath.Join(dir, "users"))
	if err := os.WriteFile(filepath.Join(dir, "pam.d", "mgmtd-test"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "pam.d")
}

func TestCheckPassword(t *testing.T) {
	var logs bytes.Buffer
	c, err := New(Options{Service: "mgmtd-test", ConfDir: privatePAM(t), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, password string
		want           error
	}{
		{"alice", "s3cret-alice", nil},
		{"bob", "hunter2-bob", nil},
		{"alice", "hunter2-bob", auth.ErrBadCredentials},
		{"alice", "", auth.ErrBadCredentials},
		{"mallory", "s3cret-alice", auth.ErrUnknownUser},
	}
	for _, tc := range tests {
		t.Run(tc.user+"/"+tc.password, func(t *testing.T) {
			res, err := c.CheckPassword(context.Background(), tc.user, tc.password)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && res.Method != auth.MethodPAM {
				t.Errorf("method %q", res.Method)
			}
			if err != nil && tc.password != "" && strings.Contains(err.Error(), tc.password) {
				t.Errorf("error contains the password: %v", err)
			}
		})
	}
	for _, pw := range pamUsers {
		if strings.Contains(logs.String(), pw) {
			t.Errorf("log contains a password:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "Authentication failure") {
		t.Errorf("PAM's error text not logged:\n%s", logs.String())
	}
}

func TestUnknownService(t *testing.T) {
	c, err := New(Options{Service: "no-such-service", ConfDir: privatePAM(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckPassword(context.Background(), "alice", "s3cret-alice"); err == nil {
		t.Fatal("a service without configuration authenticated")
	}
}

func TestConcurrentAndCancelled(t *testing.T) {
	c, err := New(Options{Service: "mgmtd-test", ConfDir: privatePAM(t), Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			user := []string{"alice", "bob"}[i%2]
			if _, err := c.CheckPassword(context.Background(), user, pamUsers[user]); err != nil {
				errs <- fmt.Errorf("%s: %w", user, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// With every slot busy (a hung PAM module), a caller whose context
	// ends gives up instead of queueing forever.
	for range cap(c.slots) {
		c.slots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.CheckPassword(ctx, "alice", "s3cret-alice")
	if !errors.Is(err, auth.ErrBadCredentials) || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("all slots busy, context cancelled: %v", err)
	}
	for range cap(c.slots) {
		<-c.slots
	}
	if _, err := c.CheckPassword(context.Background(), "alice", "s3cret-alice"); err != nil {
		t.Errorf("after the slots were freed: %v", err)
	}
}

// TestServiceWithPAM runs HTTP Basic through auth.Service: the built-in
// store does not know the user, so PAM decides; bindings by PAM user
// name give the role.
func TestServiceWithPAM(t *testing.T) {
	pamc, err := FromConfig(auth.PAMConfig{Enabled: true, Service: "mgmtd-test", ConfDir: privatePAM(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	builtin := auth.NewUserStore(4)
	if err := builtin.Add("demo", "demo-pw", []auth.Grant{{Role: auth.RoleViewer}}, nil); err != nil {
		t.Fatal(err)
	}
	var events []auth.AuthEvent
	s, err := auth.New(auth.Options{
		Bindings:  []auth.Binding{{Role: auth.RoleOperator, Methods: []auth.Method{auth.MethodPAM}, Users: []string{"alice"}}},
		Passwords: []auth.PasswordChecker{builtin, pamc},
		Recorder:  auth.RecorderFunc(func(_ context.Context, ev auth.AuthEvent) { events = append(events, ev) }),
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, password string
		wantID         string
		wantRoles      []auth.Role
		wantErr        error
	}{
		{"alice", "s3cret-alice", "pam:alice", []auth.Role{auth.RoleOperator}, nil},
		{"bob", "hunter2-bob", "pam:bob", nil, nil},
		{"demo", "demo-pw", "password:demo", []auth.Role{auth.RoleViewer}, nil},
		{"alice", "wrong", "", nil, auth.ErrBadCredentials},
		{"s3cret-alice", "x", "", nil, auth.ErrBadCredentials},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "https://mgmtd.test/cimom", nil)
		r.SetBasicAuth(tc.user, tc.password)
		id, err := s.Authenticate(r)
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: err = %v, want %v", tc.user, err, tc.wantErr)
		}
		if err != nil {
			continue
		}
		if id.ID != tc.wantID || fmt.Sprint(id.Roles) != fmt.Sprint(tc.wantRoles) {
			t.Errorf("%s: %s %v, want %s %v", tc.user, id.ID, id.Roles, tc.wantID, tc.wantRoles)
		}
	}
	last := events[len(events)-1]
	if last.Kind != auth.EventAuthFailure || strings.Contains(last.ActorName, "s3cret") || !strings.HasPrefix(last.ActorName, "unknown-user#") {
		t.Errorf("unknown user (a password typed as name) recorded as %q", last.ActorName)
	}
}

// TestShippedServiceFile loads the shipped pam.d/mgmtd from a private
// directory: every module must load and pam_unix must answer for a user
// that has no account (no system account is read or changed).
func TestShippedServiceFile(t *testing.T) {
	b, err := os.ReadFile("../../pam.d/mgmtd")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DefaultService), b, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{ConfDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CheckPassword(context.Background(), "mgmtd-no-such-user-7f3a", "x")
	if !errors.Is(err, auth.ErrUnknownUser) {
		t.Fatalf("err = %v, want pam_unix's user unknown (a module failing to load gives a system error)", err)
	}
}
