package cli_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tryBlock extracts the README's "Try:" block: the indented lines after
// "Try:" up to the first line that is not indented.
func tryBlock(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "Try:\n\n")
	if !ok {
		t.Fatal(`README.md has no "Try:" block`)
	}
	var lines []string
	for _, l := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(l, "    ") {
			break
		}
		lines = append(lines, strings.TrimPrefix(l, "    "))
	}
	if len(lines) < 5 {
		t.Fatalf("README's Try block has %d lines", len(lines))
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestReadmeTryBlock (issue 19 item 1) runs the README's "Try" block
// literally in a fresh bash, as if pasted, and checks what each command
// printed. The block uses the fixed port 8080 and /tmp paths, so it runs in
// private PID, mount and network namespaces (its own loopback and /tmp):
// nothing else on the machine is touched, and whatever it leaves running
// ends with the namespace.
func TestReadmeTryBlock(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("private namespaces for the README's fixed port and /tmp paths: needs root (CI and scripts/test.sh run as root)")
	}
	block := tryBlock(t)
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// set -x shows each command of the block before its output, so the
	// test can tell whose output is whose.
	// The checkout is bound to /mnt and back after the new /tmp is
	// mounted, so that a checkout under /tmp stays where it was (all in
	// the private mount namespace).
	setup := fmt.Sprintf("set -e; mkdir -p /mnt; mount --bind %[1]q /mnt; mount -t tmpfs tmpfs /tmp; mkdir -p %[1]q; mount --bind /mnt %[1]q; cd %[1]q; "+
		"ip link set lo up; set +e; PS4='+CMD '; set -x\n", repo)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--mount", "--net", "--propagation", "private",
		"bash", "-c", setup+block)
	out, err := cmd.CombinedOutput()
	text := string(out)
	t.Logf("README Try block:\n%s", text)
	if err != nil {
		t.Fatalf("the block failed: %v", err)
	}
	// Each command's output, by the command's first words.
	outputs := map[string]string{}
	cur := ""
	for _, l := range strings.Split(text, "\n") {
		if c, ok := strings.CutPrefix(l, "+CMD "); ok {
			cur = c
			continue
		}
		outputs[cur] += l + "\n"
	}
	find := func(prefix string) string {
		for c, o := range outputs {
			if strings.Contains(c, prefix) {
				return o
			}
		}
		t.Errorf("no command %q ran; ran: %v", prefix, keys(outputs))
		return ""
	}
	for _, c := range []struct{ cmd, want string }{
		{"api/v1/where?q=192.0.2.10", `"resource":"web-ip"`},
		{"api/v1/impact?node=hv1", `"target":"hv1"`},
		{"api/v1/events", "event: "},
		{"/tmp/mgmtd status", "cluster demo"},
		{"/tmp/mgmtd where web", "web"},
	} {
		if o := find(c.cmd); !strings.Contains(o, c.want) {
			t.Errorf("%s printed %q, want %q in it", c.cmd, o, c.want)
		}
	}
	for c, o := range outputs {
		for _, bad := range []string{"401 Unauthorized", "403 Forbidden", "mgmtd: "} {
			if strings.Contains(c, "/tmp/mgmtd") && strings.Contains(o, bad) {
				t.Errorf("%s printed %q", c, o)
			}
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
