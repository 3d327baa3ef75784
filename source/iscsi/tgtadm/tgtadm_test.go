package tgtadm

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// controller is LUN 0 of target tid as tgtd 1.0.85 shows it.
func controller(tid string) LUN {
	return LUN{LUN: 0, Type: "controller", SCSIID: "IET     000" + tid + "0000", SCSISN: "beaf" + tid + "0",
		SizeMB: 0, BlockSize: 1, Online: true}
}

func disk(tid, lun string, n uint64, mb uint64, bst, path string) LUN {
	return LUN{LUN: n, Type: "disk", SCSIID: "IET     000" + tid + "000" + lun, SCSISN: "beaf" + tid + lun,
		SizeMB: mb, BlockSize: 512, Online: true, BackingType: bst, BackingPath: path}
}

func captured(sessions bool) []Target {
	const dir = "/tmp/mgmtd-tgt-fixture/"
	t1 := Target{TID: 1, Name: "iqn.2026-12.org.example.demo:store", Driver: "iscsi", State: "ready",
		Nexuses:  []Nexus{},
		LUNs:     []LUN{controller("1"), disk("1", "1", 1, 67, "rdwr", dir+"store.img")},
		Accounts: []Account{}, ACL: []string{"127.0.0.1", "192.168.10.0/24"}}
	t1.LUNs[0].BackingType = "null"
	t2 := Target{TID: 2, Name: "iqn.2026-12.org.example.demo:archive", Driver: "iscsi", State: "ready",
		Nexuses:  []Nexus{},
		LUNs:     []LUN{controller("2"), disk("2", "1", 1, 34, "aio", dir+"archive.img"), disk("2", "2", 2, 17, "rdwr", dir+"archive2.img")},
		Accounts: []Account{{User: "demo"}, {User: "back", Outgoing: true}},
		ACL:      []string{"iqn.2026-12.org.example.client:host2"}}
	t2.LUNs[0].BackingType = "null"
	t2.LUNs[1].Online = false
	t2.LUNs[2].Readonly = true
	t3 := Target{TID: 3, Name: "iqn.2026-12.org.example.demo:spare", Driver: "iscsi", State: "offline",
		Nexuses: []Nexus{}, LUNs: []LUN{controller("3")}, Accounts: []Account{}, ACL: []string{}}
	t3.LUNs[0].BackingType = "null"
	if sessions {
		t1.Nexuses = []Nexus{
			{ID: 1, Initiator: "iqn.2026-12.org.example.client:host1", Connections: []Connection{{CID: 0, Address: "127.0.0.1"}}},
			{ID: 2, Initiator: "iqn.2026-12.org.example.client:host2", Connections: []Connection{{CID: 0, Address: "127.0.0.1"}}},
		}
		t2.Nexuses = []Nexus{{ID: 3, Initiator: "iqn.2026-12.org.example.client:host2", Connections: []Connection{{CID: 0, Address: "127.0.0.1"}}}}
	}
	return []Target{t1, t2, t3}
}

func TestCaptures(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []Target
	}{
		{"target-show.txt", captured(true)},
		{"target-show-idle.txt", captured(false)},
		{"target-show-empty.txt", []Target{}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Parse(read(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// The other outputs tgtadm prints are not a target list.
func TestOtherOutputs(t *testing.T) {
	for _, f := range []string{"target-show-tid1.txt", "sys-show.txt", "COMMANDS.txt", "README.md"} {
		if ts, err := Parse(read(t, f)); err == nil {
			t.Errorf("%s: parsed as %+v", f, ts)
		}
	}
}

func TestTolerated(t *testing.T) {
	base := string(read(t, "target-show.txt"))
	for name, tc := range map[string]struct {
		in    string
		check func([]Target) bool
	}{
		// iscsi_print_nop_settings adds lines when NOPs are configured.
		"nop settings": {strings.Replace(base, "        State: ready\n", "        State: ready\n        Nop interval: 5\n        Nop count: 3\n", 1),
			func(ts []Target) bool { return ts[0].State == "ready" }},
		"unknown section": {strings.Replace(base, "    ACL information:\n", "    Portal information:\n        10.0.0.1:3260\n            x\n    ACL information:\n", 1),
			func(ts []Target) bool { return len(ts[0].ACL) == 2 }},
		"unknown LUN key": {strings.Replace(base, "            SWP: No\n", "            SWP: No\n            Future: thing\n", 1),
			func(ts []Target) bool { return len(ts[0].LUNs) == 2 }},
		"older initiator line without alias": {strings.Replace(base, "host1 alias: none", "host1", 1),
			func(ts []Target) bool { return ts[0].Nexuses[0].Initiator == "iqn.2026-12.org.example.client:host1" }},
		"alias": {strings.Replace(base, "host1 alias: none", "host1 alias: db1", 1),
			func(ts []Target) bool { return ts[0].Nexuses[0].Alias == "db1" }},
		"CRLF and no final newline": {strings.TrimSuffix(strings.ReplaceAll(base, "\n", "\r\n"), "\r\n"),
			func(ts []Target) bool { return len(ts) == 3 }},
		"two connections": {strings.Replace(base, "                IP Address: 127.0.0.1\n", "                IP Address: 127.0.0.1\n            Connection: 1\n                IP Address: fe80::1%eth0\n", 1),
			func(ts []Target) bool {
				c := ts[0].Nexuses[0].Connections
				return len(c) == 2 && c[1] == Connection{CID: 1, Address: "fe80::1%eth0"}
			}},
	} {
		t.Run(name, func(t *testing.T) {
			ts, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(ts) {
				t.Errorf("unexpected %+v", ts)
			}
		})
	}
}

func TestGarbage(t *testing.T) {
	base := string(read(t, "target-show.txt"))
	rep := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("capture lacks %q", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	for name, in := range map[string]string{
		"text":                    "tgtadm: can't send the request to the tgt daemon, Transport endpoint is not connected\n",
		"before a target":         "    State: ready\n" + base,
		"bad tid":                 rep("Target 1:", "Target one:"),
		"negative tid":            rep("Target 1:", "Target -1:"),
		"tid twice":               rep("Target 2:", "Target 1:"),
		"no name":                 rep("Target 1: iqn.2026-12.org.example.demo:store", "Target 1: "),
		"odd indentation":         rep("        Driver: iscsi\n", "       Driver: iscsi\n"),
		"tab":                     rep("        Driver: iscsi\n", "\tDriver: iscsi\n"),
		"deep":                    rep("        Driver: iscsi\n", "                    Driver: iscsi\n"),
		"section twice":           rep("    LUN information:\n", "    ACL information:\n    LUN information:\n    LUN information:\n"),
		"no LUN section":          rep("    LUN information:\n", "    Disk information:\n"),
		"bad section":             rep("    LUN information:\n", "    LUN information\n"),
		"no state":                rep("        State: ready\n", ""),
		"bad LUN":                 rep("        LUN: 1\n", "        LUN: x\n"),
		"huge LUN":                rep("        LUN: 1\n", "        LUN: 99999999999\n"),
		"LUN twice":               rep("        LUN: 1\n", "        LUN: 0\n"),
		"LUN without type":        rep("            Type: disk\n", ""),
		"LUN key twice":           rep("            SWP: No\n", "            SWP: No\n            SWP: No\n"),
		"bad yes":                 rep("            Readonly: No\n", "            Readonly: maybe\n"),
		"bad size":                rep("Size: 67 MB", "Size: 67 GB"),
		"bad block size":          rep("Block size: 512", "Block size: -1"),
		"LUN field outside LUN":   rep("    LUN information:\n        LUN: 0\n", "    LUN information:\n            Type: disk\n        LUN: 0\n"),
		"bad nexus":               rep("        I_T nexus: 2\n", "        I_T nexus: two\n"),
		"nexus without initiator": rep("            Initiator: iqn.2026-12.org.example.client:host2 alias: none\n", ""),
		"address outside conn":    rep("            Connection: 0\n", ""),
		"bad connection":          rep("            Connection: 0\n", "            Connection: -1\n"),
		"control char":            rep("demo:store", "demo\x00store"),
		"no separator in nexus":   rep("            Connection: 0\n", "            Connection 0\n"),
		"deep in ACL":             rep("        192.168.10.0/24\n", "            192.168.10.0/24\n"),
		"parameters":              string(read(t, "target-show-tid1.txt")),
	} {
		t.Run(name, func(t *testing.T) {
			ts, err := Parse([]byte(in))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %+v, %v; want an *Error", ts, err)
			}
			if pe.Line < 1 {
				t.Errorf("no line in %v", err)
			}
		})
	}
}

func TestBounds(t *testing.T) {
	if _, err := Parse(make([]byte, MaxOutput+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	long := "Target 1: iqn.x:" + strings.Repeat("a", MaxLine) + "\n"
	if _, err := Parse([]byte(long)); err == nil || !strings.Contains(err.Error(), "longer") {
		t.Errorf("long line: %v", err)
	}
	var b strings.Builder
	for i := range MaxTargets + 1 {
		b.WriteString("Target " + itoa(i+1) + ": iqn.x:t\n    System information:\n        State: ready\n    I_T nexus information:\n    LUN information:\n")
	}
	if _, err := Parse([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("too many targets: %v", err)
	}
	b.Reset()
	b.WriteString("Target 1: iqn.x:t\n    System information:\n        State: ready\n    I_T nexus information:\n    LUN information:\n")
	for i := range MaxLUNs + 1 {
		b.WriteString("        LUN: " + itoa(i) + "\n            Type: disk\n")
	}
	if _, err := Parse([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("too many LUNs: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// FuzzParse: Parse never panics, and what it accepts is within its
// bounds and parses the same again.
func FuzzParse(f *testing.F) {
	for _, n := range []string{"target-show.txt", "target-show-idle.txt", "target-show-empty.txt", "target-show-tid1.txt", "sys-show.txt"} {
		f.Add(read(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := Parse(b)
		if err != nil {
			if ts != nil {
				t.Fatal("targets with an error")
			}
			return
		}
		if len(ts) > MaxTargets {
			t.Fatalf("%d targets", len(ts))
		}
		for _, tg := range ts {
			if tg.Name == "" || tg.State == "" {
				t.Fatalf("incomplete target %+v", tg)
			}
			for _, l := range tg.LUNs {
				if l.Type == "" {
					t.Fatalf("LUN without type %+v", l)
				}
			}
			for _, n := range tg.Nexuses {
				if n.Initiator == "" {
					t.Fatalf("nexus without initiator %+v", n)
				}
			}
		}
		again, err := Parse(b)
		if err != nil || !reflect.DeepEqual(ts, again) {
			t.Fatalf("not deterministic: %v", err)
		}
	})
}
