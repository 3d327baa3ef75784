package virt

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"libvirt.org/go/libvirtxml"

	"mgmtd/internal/testutil"
)

func TestParseDomainXML(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want DomainXML
		err  string
	}{
		{"minimal", `<domain type='kvm'><name>a</name></domain>`, DomainXML{Type: "kvm", Name: "a", RunState: -1}, ""},
		{"current memory and vcpus", `<domain><name>a</name><uuid>6695EB01F6A4830479AA97F2502E193F</uuid><memory unit='GiB'>8</memory><currentMemory unit='MiB'>2048</currentMemory><vcpu current='2'>4</vcpu></domain>`,
			DomainXML{Name: "a", UUID: "6695eb01-f6a4-8304-79aa-97f2502e193f", MemoryKiB: 2097152, VCPUs: 2, RunState: -1}, ""},
		{"bytes round up", `<domain><name>a</name><memory unit='b'>1025</memory></domain>`, DomainXML{Name: "a", MemoryKiB: 2, RunState: -1}, ""},
		{"decimal units", `<domain><name>a</name><memory unit='MB'>1</memory></domain>`, DomainXML{Name: "a", MemoryKiB: 977, RunState: -1}, ""},
		{"test namespace", `<domain xmlns:t='http://libvirt.org/schemas/domain/test/1.0'><name>a</name><t:runstate>3</t:runstate><t:transient/><t:hasmanagedsave/></domain>`,
			DomainXML{Name: "a", RunState: 3, Transient: true}, ""},
		{"other namespace ignored", `<domain xmlns:x='urn:x'><name>a</name><x:runstate>3</x:runstate><x:name>b</x:name></domain>`, DomainXML{Name: "a", RunState: -1}, ""},
		{"no name", `<domain><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid></domain>`, DomainXML{}, "without a name"},
		{"empty name", `<domain><name> </name></domain>`, DomainXML{}, "without a name"},
		{"two names", `<domain><name>a</name><name>b</name></domain>`, DomainXML{}, "two names"},
		{"bad uuid", `<domain><name>a</name><uuid>xyz</uuid></domain>`, DomainXML{}, "invalid character"},
		{"short uuid", `<domain><name>a</name><uuid>abcd</uuid></domain>`, DomainXML{}, "32 hex digits"},
		{"bad unit", `<domain><name>a</name><memory unit='parsec'>1</memory></domain>`, DomainXML{}, "unknown unit"},
		{"overflow", `<domain><name>a</name><memory unit='TiB'>99999999999</memory></domain>`, DomainXML{}, "overflows"},
		{"bad runstate", `<domain xmlns:t='http://libvirt.org/schemas/domain/test/1.0'><name>a</name><t:runstate>9</t:runstate></domain>`, DomainXML{}, "not a domain state"},
		{"element in name", `<domain><name>a<b/></name></domain>`, DomainXML{}, "unexpected element"},
		{"wrong root", `<node/>`, DomainXML{}, "want <domain>"},
		{"reference", `<domain file='x.xml'/>`, DomainXML{}, "reference"},
		{"truncated", `<domain><name>a</name>`, DomainXML{}, "unexpected EOF"},
		{"trailing root", `<domain><name>a</name></domain><domain/>`, DomainXML{}, "second root"},
		{"empty", ``, DomainXML{}, "no root element"},
		{"deep", `<domain><name>a</name>` + strings.Repeat("<x>", 40) + strings.Repeat("</x>", 40) + `</domain>`, DomainXML{}, "nesting deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDomainXML([]byte(tc.in))
			if tc.err != "" {
				var xe *XMLError
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &xe) {
					t.Fatalf("err = %v, want an *XMLError containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseGolden parses every XML file in testdata (captured with virsh or
// generated; see testdata/README.md) and compares with golden JSON.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in := readFile(t, f)
			var v any
			if strings.HasPrefix(filepath.Base(f), "host-") {
				v, err = ParseNodeXML(in)
			} else {
				v, err = ParseDomainXML(in)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(v, "", "  ")
			testutil.Golden(t, strings.TrimSuffix(f, ".xml")+".golden.json", append(got, '\n'))
		})
	}
}

func TestParseNodeXML(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want NodeXML
		err  string
	}{
		{"empty node", `<node/>`, NodeXML{}, ""},
		{"cpu memory domains", `<node><cpu><mhz>1</mhz><active>8</active></cpu><memory>1024</memory><domain type='test'><name>a</name></domain><domain file='b.xml'/><network/></node>`,
			NodeXML{CPUs: 8, MemoryKiB: 1024, Domains: []DomainXML{{Type: "test", Name: "a", RunState: -1}, {File: "b.xml", RunState: -1}}}, ""},
		{"bad cpus", `<node><cpu><active>-1</active></cpu></node>`, NodeXML{}, "not a count"},
		{"bad domain", `<node><domain/></node>`, NodeXML{}, "without a name"},
		{"wrong root", `<domain><name>a</name></domain>`, NodeXML{}, "want <node>"},
		{"text before root", `x<node/>`, NodeXML{}, "text before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNodeXML([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	big := make([]byte, maxXMLBytes+1)
	if _, err := ParseDomainXML(big); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized document: err = %v", err)
	}
	many := "<node>" + strings.Repeat("<x/>", maxXMLElements) + "</node>"
	if _, err := ParseNodeXML([]byte(many)); err == nil || !strings.Contains(err.Error(), "elements") {
		t.Errorf("too many elements: err = %v", err)
	}
}

func fuzzSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<domain><name>a</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid><memory unit='b'>1025</memory></domain>`))
	f.Add([]byte(`<node><cpu><active>8</active></cpu><domain file='b.xml'/></node>`))
}

// FuzzParseDomainXML: the parser never panics, and whatever it accepts
// libvirtxml (encoding/xml into libvirt's full schema) reads with the same
// name, and UUID up to canonical form.
func FuzzParseDomainXML(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDomainXML(b)
		if err != nil {
			return
		}
		if d.Name == "" {
			t.Fatalf("accepted a domain without a name: %q", b)
		}
		if bytes.IndexByte(b, ':') >= 0 {
			return // libvirtxml matches elements in any namespace, libvirt only un-namespaced ones
		}
		var ref libvirtxml.Domain
		if err := ref.Unmarshal(string(b)); err != nil {
			return // libvirtxml is stricter about attribute types
		}
		if strings.TrimSpace(ref.Name) != d.Name {
			t.Fatalf("name %q, libvirtxml says %q", d.Name, ref.Name)
		}
		if ref.UUID != "" {
			if u, err := canonicalUUID(strings.TrimSpace(ref.UUID)); err == nil && u != d.UUID {
				t.Fatalf("uuid %q, libvirtxml says %q", d.UUID, ref.UUID)
			}
		}
	})
}

// FuzzParseNodeXML: the host-description parser never panics and every
// inline domain it returns has a name.
func FuzzParseNodeXML(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNodeXML(b)
		if err != nil {
			return
		}
		for _, d := range n.Domains {
			if d.File == "" && d.Name == "" {
				t.Fatalf("accepted a domain without a name: %q", b)
			}
		}
	})
}
