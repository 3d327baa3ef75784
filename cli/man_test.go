package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mgmtd/cli"
)

// TestManPage generates mgmtd(8) and formats it with man-db's man, which
// must print no warning; every visible command has its section and every
// flag of it is described, and the hidden command is not listed.
func TestManPage(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "man", dir)
	if code != 0 {
		t.Fatalf("mgmtd man: exit %d %s", code, errs)
	}
	page := filepath.Join(dir, "mgmtd.8")
	if strings.TrimSpace(out) != page {
		t.Errorf("mgmtd man printed %q, want %q", out, page)
	}
	src, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("man", "--warnings", "-l", page)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANWIDTH=100", "MAN_KEEP_FORMATTING=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	text, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("man -l: %v\n%s", err, stderr.String())
	}
	rendered := regexp.MustCompile(".\b").ReplaceAllString(string(text), "") // overstrike
	for _, name := range cli.Commands() {
		if !regexp.MustCompile(`(?m)^   mgmtd ` + regexp.QuoteMeta(name) + `\b`).MatchString(rendered) {
			t.Errorf("man page has no section for %s", name)
		}
		for _, f := range cli.FlagNames(name) {
			if !strings.Contains(string(src), `\fB`+strings.ReplaceAll(f, "-", `\-`)+`\fR`) {
				t.Errorf("man page does not describe %s %s", name, f)
			}
		}
	}
	if strings.Contains(rendered, "mgmtd man ") {
		t.Error("the hidden man command is in the man page")
	}
	if code, help, _ := run(t, "help"); code != 0 || strings.Contains(help, "  man ") {
		t.Errorf("help lists the hidden man command:\n%s", help)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || out != "mgmtd "+cli.Version+"\n" {
		t.Errorf("mgmtd version: exit %d %q", code, out)
	}
	if code, _, _ := run(t, "version", "x"); code != 2 {
		t.Errorf("mgmtd version x: exit %d, want 2", code)
	}
}
