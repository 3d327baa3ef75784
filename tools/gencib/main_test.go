package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// monResult is the part of crm_mon's XML the test checks.
type monResult struct {
	XMLName xml.Name `xml:"pacemaker-result"`
	Summary struct {
		Nodes struct {
			Number int `xml:"number,attr"`
		} `xml:"nodes_configured"`
		Resources struct {
			Number   int `xml:"number,attr"`
			Disabled int `xml:"disabled,attr"`
		} `xml:"resources_configured"`
	} `xml:"summary"`
	Nodes []struct {
		Name   string `xml:"name,attr"`
		Online bool   `xml:"online,attr"`
	} `xml:"nodes>node"`
	Status struct {
		Code int `xml:"code,attr"`
	} `xml:"status"`
}

// countRoles counts <resource role=...> elements anywhere in crm_mon's output.
func countRoles(t *testing.T, out []byte) map[string]int {
	t.Helper()
	roles := map[string]int{}
	dec := xml.NewDecoder(bytes.NewReader(out))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "resource" {
			for _, a := range se.Attr {
				if a.Name.Local == "role" {
					roles[a.Value]++
				}
			}
		}
	}
	return roles
}

// TestGenerateCrmMon checks with the real crm_mon that every generated resource
// instance is shown Started (or Stopped when disabled) and every node online.
func TestGenerateCrmMon(t *testing.T) {
	crmMon, err := exec.LookPath("crm_mon")
	if err != nil {
		t.Fatalf("crm_mon not found (install pacemaker-cli-utils: scripts/deps.d/pacemaker.sh): %v", err)
	}
	tests := []struct {
		name string
		spec Spec
	}{
		{"one node", Spec{Nodes: 1, Resources: 7, Monitors: true}},
		{"small", Spec{Nodes: 7, Resources: 230, Monitors: true}},
		{"no monitors", Spec{Nodes: 4, Resources: 120}},
		{"no resources", Spec{Nodes: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cib.xml")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			st, err := Generate(f, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if st.Primitives != tc.spec.Resources {
				t.Errorf("Primitives = %d, want %d", st.Primitives, tc.spec.Resources)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, crmMon, "--output-as=xml", "--inactive")
			cmd.Env = append(os.Environ(), "CIB_file="+path)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("crm_mon: %v\n%s", err, out)
			}
			var res monResult
			if err := xml.Unmarshal(out, &res); err != nil {
				t.Fatalf("decode crm_mon output: %v", err)
			}
			if res.Status.Code != 0 || res.Summary.Nodes.Number != tc.spec.Nodes {
				t.Fatalf("crm_mon status %d, %d nodes configured; want 0, %d\n%s", res.Status.Code, res.Summary.Nodes.Number, tc.spec.Nodes, out)
			}
			if len(res.Nodes) != tc.spec.Nodes {
				t.Errorf("crm_mon lists %d nodes, want %d", len(res.Nodes), tc.spec.Nodes)
			}
			for _, n := range res.Nodes {
				if !n.Online {
					t.Errorf("node %s is not online", n.Name)
				}
			}
			if res.Summary.Resources.Disabled != st.Disabled {
				t.Errorf("crm_mon disabled = %d, generator says %d", res.Summary.Resources.Disabled, st.Disabled)
			}
			roles := countRoles(t, out)
			if roles["Started"] != st.Started {
				t.Errorf("crm_mon shows %d Started instances, generator placed %d (roles %v)", roles["Started"], st.Started, roles)
			}
			for role, n := range roles {
				if role != "Started" && role != "Stopped" {
					t.Errorf("unexpected role %q on %d instances", role, n)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		ok   bool
	}{
		{"zero nodes", Spec{Nodes: 0, Resources: 1}, false},
		{"negative resources", Spec{Nodes: 1, Resources: -1}, false},
		{"minimal", Spec{Nodes: 1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(&bytes.Buffer{}, tc.spec)
			if (err == nil) != tc.ok {
				t.Errorf("Generate(%+v) error = %v, want ok=%v", tc.spec, err, tc.ok)
			}
		})
	}
}

// TestDeterministic checks that two runs produce the same bytes.
func TestDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	spec := Spec{Nodes: 9, Resources: 333, Monitors: true}
	if _, err := Generate(&a, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(&b, spec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two runs with the same spec differ")
	}
}
