package executor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"mgmtd/action"
)

// journal keeps the executor's tasks across restarts: an append-only file
// of JSON lines, one per task change, written and synced before the change
// is visible, and compacted (the latest line of each kept task) when
// opened. A task that was not terminal when the daemon stopped is an
// orphan: its request is kept with it so that the next start can read its
// effect back and end it.
type journal struct {
	path string
	f    *os.File
}

// journalLine is one task change.
type journalLine struct {
	Task    action.Task    `json:"task"`
	Request action.Request `json:"request"`
	// CIBUser is kept apart: Request.Actor does not show it.
	CIBUser string `json:"cib_user,omitempty"`
}

// maxJournalLine bounds one line when reading (a task with its before
// and after states is at most about 130 KiB).
const maxJournalLine = 4 << 20

// openJournal reads the journal at path (a missing file is an empty
// journal), keeps the newest max tasks, rewrites the file compacted and
// returns it open for appending, with the kept lines oldest first. A
// damaged line - a write the crash cut short - ends the reading; what came
// before it is kept.
func openJournal(path string, max int) (*journal, []journalLine, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, err
	}
	var lines []journalLine
	index := map[string]int{}
	if b, err := os.ReadFile(path); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 64<<10), maxJournalLine)
		for sc.Scan() {
			var l journalLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Task.ID == "" {
				break
			}
			if i, ok := index[l.Task.ID]; ok {
				lines[i] = l
				continue
			}
			index[l.Task.ID] = len(lines)
			lines = append(lines, l)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("task journal: %w", err)
	}
	if len(lines) > max {
		lines = lines[len(lines)-max:]
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("task journal: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		if err := writeLine(w, l); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Close(); err != nil {
		return nil, nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, nil, fmt.Errorf("task journal: %w", err)
	}
	f, err = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("task journal: %w", err)
	}
	return &journal{path: path, f: f}, lines, nil
}

func writeLine(w io.Writer, l journalLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// append writes one task change and syncs it.
func (j *journal) append(l journalLine) error {
	if err := writeLine(j.f, l); err != nil {
		return fmt.Errorf("task journal: %w", err)
	}
	return j.f.Sync()
}

func (j *journal) close() error { return j.f.Close() }
