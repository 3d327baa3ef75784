package events

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dump renders a State for comparisons.
func dump(s *State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "complete=%v skipped=%d\n", s.Complete, s.Skipped)
	for _, r := range s.Resources() {
		rr := *r
		rr.Volumes, rr.Connections = nil, nil
		fmt.Fprintf(&b, "%+v\n", rr)
		for _, v := range r.Volumes {
			fmt.Fprintf(&b, "  %+v\n", *v)
		}
		for _, c := range r.Connections {
			cc := *c
			cc.PeerDevices = nil
			fmt.Fprintf(&b, "  %+v\n", cc)
			for _, p := range c.PeerDevices {
				fmt.Fprintf(&b, "    %+v\n", *p)
			}
		}
	}
	return b.String()
}

func seeds(f *testing.F, ext string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"+ext))
	if len(files) == 0 {
		f.Fatal("no seeds")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzStream: any bytes, in any chunking, never panic, and the State
// stays within its limits.
func FuzzStream(f *testing.F) {
	seeds(f, ".txt")
	// The real 8.4 event streams of testdata/real84.
	for _, name := range []string{"events2-hv1.txt", "events2-hv2.txt", "events2-plain-hv1.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", "real84", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("exists -\n- skipped 1\nrename resource name:a new_name:b\ncall helper name:a helper:split-brain\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Stream
		split := len(b) / 2
		if err := s.Write(b[:split]); err == nil {
			_ = s.Write(b[split:])
		}
		rs := s.State.Resources()
		if len(rs) > MaxResources {
			t.Fatalf("%d resources", len(rs))
		}
		for _, r := range rs {
			if len(r.Volumes) > MaxVolumes || len(r.Connections) > MaxPeers {
				t.Fatalf("resource over limits: %d volumes, %d connections", len(r.Volumes), len(r.Connections))
			}
			for _, c := range r.Connections {
				if len(c.Paths) > MaxPaths || len(c.PeerDevices) > MaxVolumes {
					t.Fatal("connection over limits")
				}
				for _, p := range c.PeerDevices {
					if p.Done > 100 || p.Done < -1 {
						t.Fatalf("done %v", p.Done)
					}
				}
			}
		}
		if dump(s.State.Clone()) != dump(&s.State) {
			t.Fatal("clone differs")
		}
	})
}

// FuzzStatusJSON: any bytes never panic; a parsed document is complete.
func FuzzStatusJSON(f *testing.F) {
	seeds(f, ".json")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStatusJSON(b)
		if err != nil {
			return
		}
		if !s.Complete || len(s.Resources()) > MaxResources {
			t.Fatal("bad state")
		}
	})
}
