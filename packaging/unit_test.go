package packaging_test

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// maxExposure is the highest overall exposure `systemd-analyze security`
// may give the unit (0 safest, 10 unsafe; 1.3 "OK" when written): the
// sandboxing directives must not be lost or weakened unnoticed.
const maxExposure = 2.0

func TestUnitSecurity(t *testing.T) {
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--no-pager", "mgmtd.service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for mgmtd\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	if level > maxExposure {
		t.Errorf("exposure %.1f, above %.1f:\n%s", level, maxExposure, out)
	}
	t.Logf("systemd-analyze security: exposure %.1f", level)
}
