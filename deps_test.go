// Package deps_test keeps the architecture of shared/DESIGN.md true: which
// package of mgmtd may import which, and that every package says what it is
// for in a doc comment.
package deps_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "mgmtd"

// rules maps a package area (a directory; the most specific one applies)
// to the areas of mgmtd it may import. An area may always import its own
// subpackages, except where self is false (pure parsers import nothing).
var rules = []struct {
	area  string
	may   []string
	alone bool // imports nothing of ours, not even its own subtree
}{
	{area: "model", alone: true},
	{area: "source/pacemaker/crmmon", alone: true},
	{area: "source/pacemaker/cib", alone: true},
	{area: "source/pacemaker", may: []string{"model"}},
	{area: "source/corosync", may: []string{"model"}},
	{area: "source/virt", may: []string{"model"}},
	{area: "action", may: []string{"model"}},
	{area: "auth"},
	{area: "audit"},
	{area: "wbem/cimxml", alone: true},
	{area: "wbem"},
	{area: "snmp", may: []string{"model", "auth", "audit", "mibs"}},
	{area: "cim", may: []string{"model", "auth", "audit", "action", "wbem"}},
	{area: "rest", may: []string{"model", "auth", "audit"}},
	{area: "ui", may: []string{"model", "auth", "audit"}},
	{area: "mibs", alone: true},
	{area: "demo", may: []string{"model", "source/pacemaker"}},
	{area: "mgmtd", may: []string{"*"}},
	{area: "cmd/mgmtd", may: []string{"mgmtd"}},
	{area: "tools", alone: true},
}

func ruleFor(dir string) (area string, may []string, alone, ok bool) {
	best := -1
	for i, r := range rules {
		if (dir == r.area || strings.HasPrefix(dir, r.area+"/")) && (best < 0 || len(r.area) > len(rules[best].area)) {
			best = i
		}
	}
	if best < 0 {
		return "", nil, false, false
	}
	r := rules[best]
	return r.area, r.may, r.alone, true
}

func inArea(pkg, area string) bool { return pkg == area || strings.HasPrefix(pkg, area+"/") }

type pkgInfo struct {
	imports map[string]bool
	doc     bool
	files   int
}

// packages parses the non-test Go files of every directory of the module
// (nested modules under tools/ are left out).
func packages(t *testing.T) map[string]*pkgInfo {
	t.Helper()
	out := map[string]*pkgInfo{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if path != "." {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		p := out[dir]
		if p == nil {
			p = &pkgInfo{imports: map[string]bool{}}
			out[dir] = p
		}
		p.files++
		if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
			p.doc = true
		}
		for _, im := range f.Imports {
			path := strings.Trim(im.Path.Value, `"`)
			if path == module || strings.HasPrefix(path, module+"/") {
				p.imports[strings.TrimPrefix(strings.TrimPrefix(path, module), "/")] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 5 {
		t.Fatalf("found only %d packages; is the test running at the module root?", len(out))
	}
	return out
}

func TestImportRules(t *testing.T) {
	pkgs := packages(t)
	dirs := make([]string, 0, len(pkgs))
	for d := range pkgs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		area, may, alone, ok := ruleFor(dir)
		if !ok {
			t.Errorf("package %s is in no area of DESIGN.md's layout table; add a rule to deps_test.go", dir)
			continue
		}
		for imp := range pkgs[dir].imports {
			allowed := false
			if !alone && inArea(imp, area) {
				allowed = true
			}
			for _, m := range may {
				if m == "*" || inArea(imp, m) {
					allowed = true
				}
			}
			if !allowed {
				t.Errorf("%s imports %s/%s, which DESIGN.md's layout does not allow for %s", dir, module, imp, area)
			}
		}
	}
}

func TestEveryPackageHasDoc(t *testing.T) {
	for dir, p := range packages(t) {
		if !p.doc {
			t.Errorf("package %s has no package doc comment", dir)
		}
	}
}

// TestRulesCatchViolations makes sure the rule check itself can fail.
func TestRulesCatchViolations(t *testing.T) {
	area, may, alone, _ := ruleFor("source/pacemaker/crmmon")
	if !alone || area != "source/pacemaker/crmmon" || len(may) != 0 {
		t.Fatalf("crmmon rule = %q %v %v", area, may, alone)
	}
	area, may, _, _ = ruleFor("rest")
	for _, m := range may {
		if inArea("source/pacemaker", m) {
			t.Fatalf("rest may import sources: %v", may)
		}
	}
	if area != "rest" {
		t.Fatal(area)
	}
}
