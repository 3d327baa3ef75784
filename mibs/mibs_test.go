package mibs

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// baseMIBDir returns the directory with the IETF base modules
// (SNMPv2-SMI, SNMPv2-TC, SNMPv2-CONF, SNMP-FRAMEWORK-MIB) that Debian
// strips from libsmi and net-snmp; erlang-snmp ships them as text.
// scripts/deps.d/snmp.sh installs it.
func baseMIBDir(t *testing.T) string {
	t.Helper()
	m, _ := filepath.Glob("/usr/lib/erlang/lib/snmp-*/mibs/SNMPv2-SMI.mib")
	if len(m) == 0 {
		t.Fatal("IETF base MIBs not found under /usr/lib/erlang/lib/snmp-*/mibs: install erlang-snmp (scripts/deps.d/snmp.sh)")
	}
	return filepath.Dir(m[0])
}

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install it with scripts/deps.d/snmp.sh: %v", name, err)
	}
	return p
}

func mibFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no MIB files: %v", err)
	}
	return files
}

// TestSmilint requires `smilint -s -l 6` to print nothing for every
// module, with the 32-character descriptor rule (hidden by libsmi's
// default configuration) checked separately below.
func TestSmilint(t *testing.T) {
	smilint := tool(t, "smilint")
	base := baseMIBDir(t)
	for _, f := range mibFiles(t) {
		t.Run(f, func(t *testing.T) {
			cmd := exec.Command(smilint, "-s", "-l", "6", "./"+f)
			cmd.Env = append(os.Environ(), "SMIPATH="+base+":.")
			out, err := cmd.CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) != 0 {
				t.Fatalf("smilint -s -l 6 %s: %v\n%s", f, err, out)
			}
		})
	}
}

type ident struct{ module, name, kind, oid string }

// identifiers lists every named node of a module with its OID, as
// smidump sees it.
func identifiers(t *testing.T, file string) []ident {
	t.Helper()
	cmd := exec.Command(tool(t, "smidump"), "-f", "identifiers", "./"+file)
	cmd.Env = append(os.Environ(), "SMIPATH="+baseMIBDir(t)+":.")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("smidump %s: %v", file, err)
	}
	var ids []ident
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && !strings.HasPrefix(f[0], "#") {
			ids = append(ids, ident{f[0], f[1], f[2], f[3]})
		}
	}
	return ids
}

func TestDescriptorLength(t *testing.T) {
	for _, f := range mibFiles(t) {
		for _, id := range identifiers(t, f) {
			if len(id.name) > 32 {
				t.Errorf("%s: descriptor %s is longer than 32 characters", f, id.name)
			}
		}
	}
}

// TestSnmptranslate checks that net-snmp's parser resolves every name of
// every module to the OID smidump computed.
func TestSnmptranslate(t *testing.T) {
	translate := tool(t, "snmptranslate")
	base := baseMIBDir(t)
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range mibFiles(t) {
		module := strings.TrimSuffix(f, ".txt")
		ids := identifiers(t, f)
		if len(ids) < 10 {
			t.Fatalf("%s: smidump listed only %d identifiers", f, len(ids))
		}
		args := []string{"-M", base + ":" + dir, "-m", module, "-On"}
		for _, id := range ids {
			args = append(args, module+"::"+id.name)
		}
		cmd := exec.Command(translate, args...)
		cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+t.TempDir(), "SNMPCONFPATH="+t.TempDir())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("snmptranslate: %v\n%s", err, stderr.Bytes())
		}
		var got []string
		for _, l := range strings.Split(string(out), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				got = append(got, l)
			}
		}
		if len(got) != len(ids) {
			t.Fatalf("snmptranslate printed %d lines for %d names:\n%s", len(got), len(ids), out)
		}
		for i, id := range ids {
			if got[i] != "."+id.oid {
				t.Errorf("%s::%s: snmptranslate %s, smidump .%s", module, id.name, got[i], id.oid)
			}
		}
	}
}

func TestEmbedded(t *testing.T) {
	b, err := Files.ReadFile(ClusterMIB)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("MGMTD-CLUSTER-MIB DEFINITIONS ::= BEGIN")) || !bytes.Contains(b, []byte("RFC 5612")) {
		t.Fatalf("%s does not look like the cluster MIB", ClusterMIB)
	}
}
