package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// HeadFile is the name of the local head file in a state directory.
const HeadFile = "audit-head.json"

// LocalHead is what the local head file holds: the head of the chain this
// instance last acknowledged, made durable before any record up to it is
// acknowledged. With a database as the system of record it lets the daemon
// and Verify tell a deleted tail (the database ends before it) from a chain
// that simply ended, and keeps a restarted daemon from reusing sequence
// numbers.
type LocalHead struct {
	Head
	// Time is when the head was written.
	Time time.Time
	// Clean is true when the log was closed with nothing in flight: the
	// database (or the spool) holds exactly the chain up to Head. After a
	// crash it is false, and batches beyond Head may have committed.
	Clean bool
}

// The file holds two slots, JSON lines of a fixed length, written in turn
// in place and fdatasync'd: a write torn by a crash spoils at most the slot
// being written, and the other still holds the head before. Each slot
// carries a generation (the newest valid slot wins) and a CRC-32 of its
// fields. (A new file written and renamed over the old one costs three
// syncs - the file, the rename's journal commit, the directory - about
// 1.6 ms here against 0.1 ms, on every acknowledgement.)
type headJSON struct {
	Instance string `json:"instance"`
	Seq      uint64 `json:"seq"`
	Hash     string `json:"hash"`
	Time     string `json:"time"`
	Clean    bool   `json:"clean"`
	Gen      uint64 `json:"gen"`
	Check    string `json:"check"`
}

func (j *headJSON) sum() string {
	s := fmt.Sprintf("%s\x00%d\x00%s\x00%s\x00%t\x00%d", j.Instance, j.Seq, j.Hash, j.Time, j.Clean, j.Gen)
	return fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(s)))
}

// ReadHeadFile reads a local head file (StateDir/audit-head.json): the
// newest of its intact slots.
func ReadHeadFile(path string) (LocalHead, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return LocalHead{}, fmt.Errorf("read audit head file: %w", err)
	}
	var best *headJSON
	for _, line := range bytes.Split(b, []byte("\n")) {
		var j headJSON
		if json.Unmarshal(bytes.TrimSpace(line), &j) != nil || j.Check != j.sum() || j.Instance == "" {
			continue // empty, or torn by a crash
		}
		if best == nil || j.Gen > best.Gen {
			best = &j
		}
	}
	if best == nil {
		return LocalHead{}, fmt.Errorf("read audit head file %s: no intact head", path)
	}
	h := LocalHead{Head: Head{Instance: best.Instance, Seq: best.Seq}, Clean: best.Clean}
	hash, err := hex.DecodeString(best.Hash)
	if err != nil || len(hash) != len(h.Hash) {
		return LocalHead{}, fmt.Errorf("read audit head file %s: malformed hash", path)
	}
	copy(h.Hash[:], hash)
	if h.Time, err = time.Parse(TimeLayout, best.Time); err != nil {
		return LocalHead{}, fmt.Errorf("read audit head file %s: %w", path, err)
	}
	return h, nil
}

// headWriter writes a head file; it is used by one goroutine at a time.
type headWriter struct {
	path string
	f    *os.File
	size int    // of a slot
	gen  uint64 // of the last write
}

// write makes h durable in the file: in place, in the older slot,
// fdatasync'd. The first write lays out a new file (both slots) under a
// temporary name, fsync'd, renamed over the old one, the directory
// fsync'd: a crash then leaves the old file or the new one.
func (w *headWriter) write(h LocalHead) error {
	w.gen++
	j := headJSON{Instance: h.Instance, Seq: h.Seq, Hash: hex.EncodeToString(h.Hash[:]),
		Time: h.Time.UTC().Format(TimeLayout), Clean: h.Clean, Gen: w.gen}
	j.Check = j.sum()
	b, _ := json.Marshal(j)
	if w.f == nil {
		// Room for any sequence number and generation: 20 digits each.
		w.size = len(b) + 48
		if err := w.create(pad(b, w.size)); err != nil {
			return fmt.Errorf("write audit head file: %w", err)
		}
		return nil
	}
	if len(b) >= w.size {
		return errors.New("write audit head file: slot too small") // unreachable: fields of fixed width
	}
	if _, err := w.f.WriteAt(pad(b, w.size), int64(w.gen%2)*int64(w.size)); err != nil {
		return fmt.Errorf("write audit head file: %w", err)
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("write audit head file: %w", err)
	}
	return nil
}

// create writes a new file with line in both slots and keeps it open.
func (w *headWriter) create(line []byte) error {
	tmp := w.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(slices.Clone(line), line...))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(w.path))
	}
	if err != nil {
		return err
	}
	w.f, err = os.OpenFile(w.path, os.O_RDWR, 0)
	return err
}

func (w *headWriter) close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// pad returns b padded with spaces to a line of n bytes.
func pad(b []byte, n int) []byte {
	return append(append(b, strings.Repeat(" ", n-len(b)-1)...), '\n')
}
