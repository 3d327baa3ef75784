package wbemtest

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Wbemcli runs Debian's sblim-wbemcli (scripts/deps.d/cim.sh installs it)
// with args and returns its combined output and exit code.
func Wbemcli(t testing.TB, args ...string) (string, int) {
	t.Helper()
	bin, err := exec.LookPath("wbemcli")
	if err != nil {
		t.Fatalf("wbemcli not found (install sblim-wbemcli: scripts/deps.d/cim.sh): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("wbemcli %v: %v", args, err)
	}
	return string(out), 0
}

// CheckWbemcli runs wbemcli with args and checks its exit code and that
// its output holds the fragments want in this order.
func CheckWbemcli(t testing.TB, code int, want []string, args ...string) {
	t.Helper()
	out, got := Wbemcli(t, args...)
	if got != code {
		t.Errorf("exit %d, want %d; output:\n%s", got, code, out)
	}
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("output lacks %q (in order); output:\n%s", w, out)
			continue
		}
		rest = rest[i+len(w):]
	}
}
