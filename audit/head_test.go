package audit

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHeadFileSurvivesATornWrite: a crash in the middle of writing the
// head file spoils at most the slot being written; the head before it is
// read back.
func TestHeadFileSurvivesATornWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), HeadFile)
	w := &headWriter{path: path}
	defer w.close()
	for seq := uint64(1); seq <= 5; seq++ {
		if err := w.write(LocalHead{Head: Head{Instance: "node1", Seq: seq, Hash: [32]byte{byte(seq)}}, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if h, err := ReadHeadFile(path); err != nil || h.Seq != seq || h.Hash[0] != byte(seq) || h.Clean {
			t.Fatalf("after writing %d: %+v %v", seq, h, err)
		}
	}
	// Tear the newest slot (the one written last).
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := int(w.gen%2) * w.size
	copy(b[at+10:], "\x00\x00garbage")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if h, err := ReadHeadFile(path); err != nil || h.Seq != 4 {
		t.Fatalf("with the newest slot torn: %+v %v, want the head before (4)", h, err)
	}
}
