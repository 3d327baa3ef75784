// Package deps_test keeps the architecture of docs/design.md true: which
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
	{area: "toolexec", alone: true},
	{area: "internal/unit", alone: true},
	{area: "internal/testutil", alone: true},
	{area: "internal/lab", alone: true},
	{area: "internal/tgttest", alone: true},
	// Captured inputs several packages' tests share (imported by _test.go
	// files): a Pacemaker fixture's part, a node's DRBD part.
	{area: "internal/fixture", may: []string{"model", "source/pacemaker", "source/drbd"}},
	// The migration mechanism the audit log's and the history's
	// PostgreSQL stores share.
	{area: "internal/pgschema", alone: true},
	{area: "source/pacemaker/crmmon", alone: true},
	{area: "source/pacemaker/cib", alone: true},
	// The native status unpacker produces crm_mon's result type, so the
	// refresh after it is the same; it imports nothing else of ours.
	{area: "source/pacemaker/unpack", may: []string{"source/pacemaker/crmmon"}},
	{area: "source/pacemaker/transition", alone: true},
	{area: "source/pacemaker", may: []string{"model", "toolexec"}},
	{area: "source/corosync", may: []string{"model", "toolexec"}},
	{area: "source/virt", may: []string{"model"}},
	// DRBD: the source runs drbdsetup; its parser imports nothing.
	{area: "source/drbd/events", alone: true},
	{area: "source/drbd", may: []string{"model", "toolexec"}},
	// iSCSI: the source runs tgtadm; its parser imports nothing.
	{area: "source/iscsi/tgtadm", alone: true},
	{area: "source/iscsi", may: []string{"model", "toolexec"}},
	// action is the leaf of action types the front-ends share; the
	// executor carries actions out.
	{area: "action", may: []string{"model"}},
	{area: "action/executor", may: []string{"model", "action", "toolexec"}},
	{area: "auth"},
	{area: "audit", may: []string{"internal/pgschema"}},
	// The event history: the record, the queries and the recorder import
	// the model; each store brings its one third-party module (bbolt,
	// pgx). The conformance suite is imported by tests only.
	{area: "history", may: []string{"model", "internal/pgschema"}},
	// The fleet hub: the push protocol, the sender, the fleet in memory
	// (model only); its PostgreSQL store brings pgx.
	{area: "hub", may: []string{"model"}},
	{area: "hub/pghub", may: []string{"hub", "model", "internal/pgschema"}},
	{area: "wbem/cimxml", alone: true},
	{area: "wbem"},
	// Private PostgreSQL servers for tests (imported by _test.go files).
	{area: "audit/pgstore/pgtest", may: []string{"internal/testutil"}},
	{area: "snmp", may: []string{"model", "auth", "audit", "mibs"}},
	// The Prometheus exposition of the snapshot and the notification
	// routes read the model only; the wiring feeds them everything else.
	{area: "metrics", may: []string{"model"}},
	{area: "notify", may: []string{"model"}},
	// Private Exim and rsyslogd for tests (imported by _test.go files).
	{area: "notify/notifytest", may: []string{"internal/testutil"}},
	{area: "cim", may: []string{"model", "auth", "audit", "action", "wbem"}},
	// rest serves the fleet hub's routes too (gin stays in rest): it
	// imports hub's types, never its PostgreSQL store.
	{area: "rest", may: []string{"model", "auth", "audit", "action", "hub"}},
	{area: "ui", may: []string{"model", "auth", "audit"}},
	{area: "mibs", alone: true},
	{area: "demo", may: []string{"model", "source/pacemaker"}},
	// The configuration health check: judges the CIB (its parser),
	// crm_verify and corosync-cmapctl (run through toolexec, cmap parsed
	// by the Corosync source's parser).
	{area: "check", may: []string{"source/pacemaker/cib", "source/corosync", "toolexec"}},
	{area: "mgmtd", may: []string{"*"}},
	// The command line: the wiring for serve, demo and rehearsals, the
	// leaf types it prints, rest's wire types, the audit store for
	// verify/export, the MIB files, the Pacemaker source for offline
	// queries.
	{area: "cli", may: []string{"mgmtd", "model", "action", "auth", "audit", "rest", "mibs", "source/pacemaker", "toolexec", "check"}},
	{area: "cmd/mgmtd", may: []string{"cli"}},
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

// thirdParty says which areas may import a third-party module (by import
// path prefix); no other package may. stdOnly areas import the standard
// library only.
var (
	thirdParty = map[string][]string{
		// pgx: the audit log's and the history's PostgreSQL stores.
		"github.com/jackc/":                  {"audit/pgstore", "history/pghistory", "hub/pghub", "internal/pgschema"},
		"go.etcd.io/bbolt":                   {"history/boltstore"},
		"github.com/gin-gonic/":              {"rest"},
		"github.com/digitalocean/go-libvirt": {"source/virt"},
		"libvirt.org/":                       {"source/virt"},
	}
	// metrics writes the exposition format itself (no
	// prometheus/client_golang: a scrape renders one immutable snapshot,
	// which the library's registry of collectors would only wrap), and
	// notify speaks HTTP, SMTP and syslog with the standard library.
	stdOnly = []string{"model", "toolexec", "internal/unit", "internal/lab", "internal/tgttest", "source/pacemaker/crmmon", "source/pacemaker/cib", "source/pacemaker/unpack", "source/pacemaker/transition", "source/drbd/events", "source/iscsi/tgtadm", "metrics", "notify", "hub"}
)

type pkgInfo struct {
	// foreign are the imports outside the module and the standard library.
	foreign map[string]bool
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
			p = &pkgInfo{imports: map[string]bool{}, foreign: map[string]bool{}}
			out[dir] = p
		}
		p.files++
		if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
			p.doc = true
		}
		for _, im := range f.Imports {
			path := strings.Trim(im.Path.Value, `"`)
			switch {
			case path == module || strings.HasPrefix(path, module+"/"):
				p.imports[strings.TrimPrefix(strings.TrimPrefix(path, module), "/")] = true
			case strings.Contains(strings.Split(path, "/")[0], "."):
				p.foreign[path] = true
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
			t.Errorf("package %s is in no area of the layout table of docs/design.md; add a rule to deps_test.go", dir)
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
				t.Errorf("%s imports %s/%s, which the layout of docs/design.md does not allow for %s", dir, module, imp, area)
			}
		}
	}
}

// TestThirdPartyRules: the model and the pure parsers import only the
// standard library; pgx, gin and libvirt are each imported by one area.
func TestThirdPartyRules(t *testing.T) {
	for dir, p := range packages(t) {
		for imp := range p.foreign {
			for _, a := range stdOnly {
				if dir == a {
					t.Errorf("%s imports %s; it may import the standard library only", dir, imp)
				}
			}
			for prefix, areas := range thirdParty {
				if !strings.HasPrefix(imp, prefix) {
					continue
				}
				ok := false
				for _, a := range areas {
					ok = ok || inArea(dir, a)
				}
				if !ok {
					t.Errorf("%s imports %s; only %v may", dir, imp, areas)
				}
			}
		}
	}
	// The check sees third-party imports where they are.
	if pkgs := packages(t); len(pkgs["model"].foreign) != 0 || pkgs["audit/pgstore"].foreign["github.com/jackc/pgx/v5"] != true {
		t.Errorf("third-party imports not seen: model %v, pgstore %v", pkgs["model"].foreign, pkgs["audit/pgstore"].foreign)
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
