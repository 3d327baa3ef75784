package audit_test

import (
	"path/filepath"
	"testing"

	"mgmtd/audit"
	"mgmtd/audit/audittest"
)

func TestJournalConformance(t *testing.T) {
	audittest.RunStore(t, func(t *testing.T, fresh bool) audit.Store {
		path := filepath.Join(journalDir(t, fresh), audit.JournalFile)
		j, err := audit.OpenJournal(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		return j
	})
}

// journalDir returns a new temp dir when fresh, else the test's last one.
func journalDir(t *testing.T, fresh bool) string {
	if fresh || dirs[t.Name()] == "" {
		dirs[t.Name()] = t.TempDir()
	}
	return dirs[t.Name()]
}

var dirs = map[string]string{}
