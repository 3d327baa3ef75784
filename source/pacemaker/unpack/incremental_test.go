package unpack

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

var fixedNow = Options{Now: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), Location: time.UTC}

// split cuts a whole CIB into what the two status queries print: the cib
// element without children and the status element.
func split(t testing.TB, data []byte) (tag, status []byte, ok bool) {
	i := firstTag(data, "status")
	open := bytes.Index(data, []byte("<cib"))
	if i < 0 || open < 0 {
		return nil, nil, false
	}
	end, _ := tagEnd(data, open)
	if end < 0 {
		return nil, nil, false
	}
	tag = append(bytes.TrimSuffix(append([]byte(nil), data[open:end]...), []byte("/")), []byte("/>")...)
	stEnd := bytes.LastIndex(data, []byte("</status>"))
	if stEnd < i {
		se, closed := tagEnd(data, i)
		if !closed {
			return nil, nil, false
		}
		return tag, data[i : se+1], true
	}
	// Re-indent as `cibadmin --scope status` does, one level less, so
	// that the keys must ignore the whitespace between tags.
	status = bytes.ReplaceAll(data[i:stEnd+len("</status>")], []byte("\n  <"), []byte("\n<"))
	return tag, status, true
}

// TestCacheEqualsUnpack: on every fixture, a status section applied to the
// cached configuration unpacks exactly as the whole document does, and a
// second application reuses every node_state.
func TestCacheEqualsUnpack(t *testing.T) {
	for _, f := range fixtures(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Unpack(data, fixedNow)
		if errors.Is(err, ErrUnsupported) {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var c Cache
		got, err := c.Full(data, fixedNow)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: Full differs from Unpack (err %v)", f, err)
		}
		tag, status, ok := split(t, data)
		if !ok {
			t.Fatalf("%s: cannot split", f)
		}
		for round := 0; round < 2; round++ {
			got, err = c.Status(tag, status, fixedNow)
			if err != nil {
				t.Fatalf("%s round %d: %v", f, round, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s round %d: Status differs from Unpack", f, round)
			}
		}
		st := c.Stats()
		if n := bytes.Count(status, []byte("<node_state")); st.Reused != 2*n || st.Parsed != n {
			t.Errorf("%s: %d node states, stats %+v: want each parsed once (the full read), then reused", f, n, st)
		}
		// A second full read of the same document reuses them too.
		if got, err := c.Full(data, fixedNow); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: second Full differs from Unpack (err %v)", f, err)
		}
		if st2 := c.Stats(); st2.Parsed != st.Parsed {
			t.Errorf("%s: the second full read parsed node states again: %+v", f, st2)
		}
	}
}

// TestCacheFollowsAChange: a node_state that changed is parsed again and
// its change is in the answer; the others are reused.
func TestCacheFollowsAChange(t *testing.T) {
	after, err := os.ReadFile("../testdata/failed/cib.xml")
	if err != nil {
		t.Fatal(err)
	}
	var c Cache
	// Same configuration, one node's history changed: the failed
	// fixture's own status with one operation's rc changed.
	if _, err := c.Full(after, fixedNow); err != nil {
		t.Fatal(err)
	}
	tag, status, _ := split(t, after)
	i := bytes.Index(status, []byte(`rc-code="0"`))
	if i < 0 {
		t.Fatal("no rc-code=0 in the failed fixture")
	}
	changed := append(append(append([]byte(nil), status[:i]...), []byte(`rc-code="7"`)...), status[i+len(`rc-code="0"`):]...)
	before := c.Stats()
	got, err := c.Status(tag, changed, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	whole := bytes.Replace(after, []byte(`rc-code="0"`), []byte(`rc-code="7"`), 1)
	want, err := Unpack(whole, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("incremental answer differs from the whole document's")
	}
	if st := c.Stats(); st.Parsed-before.Parsed != 1 || st.Reused-before.Reused != bytes.Count(status, []byte("<node_state"))-1 {
		t.Errorf("stats %+v: want one node_state parsed, the rest reused", st)
	}
}

// TestCacheRefuses: a moved epoch, an empty cache and bad bytes are
// errors that send the caller back to a full read; nothing panics.
func TestCacheRefuses(t *testing.T) {
	data, err := os.ReadFile("../testdata/primitives/cib.xml")
	if err != nil {
		t.Fatal(err)
	}
	tag, status, _ := split(t, data)
	var c Cache
	if _, err := c.Status(tag, status, fixedNow); !errors.Is(err, ErrConfigChanged) {
		t.Errorf("empty cache: %v", err)
	}
	if _, err := c.Full(data, fixedNow); err != nil {
		t.Fatal(err)
	}
	moved := bytes.Replace(tag, []byte(` epoch="`), []byte(` epoch="9`), 1)
	if _, err := c.Status(moved, status, fixedNow); !errors.Is(err, ErrConfigChanged) {
		t.Errorf("moved epoch: %v", err)
	}
	for _, bad := range []string{"", "<status>", "<nodes/>", "<status><node_state id='1'></status>"} {
		if _, err := c.Status(tag, []byte(bad), fixedNow); err == nil {
			t.Errorf("%q: no error", bad)
		}
		if _, err := c.Full(data, fixedNow); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Status([]byte("<crm_mon/>"), status, fixedNow); err == nil || !strings.Contains(err.Error(), "not <cib>") {
		t.Errorf("wrong version element: %v", err)
	}
}

// TestStatusChunks: the byte splitter cuts node_state elements, and
// refuses what it cannot cut safely.
func TestStatusChunks(t *testing.T) {
	in := `<?xml version="1.0"?><status>
  <node_state id="1" uname="a>b"><lrm/></node_state>
  <node_state id="2"/>
</status>`
	chunks, ok := StatusChunks([]byte(in))
	if !ok || len(chunks) != 2 || string(chunks[0].Raw) != `<node_state id="1" uname="a>b"><lrm/></node_state>` || string(chunks[1].Raw) != `<node_state id="2"/>` {
		t.Fatalf("chunks %q ok %v", chunks, ok)
	}
	if k := chunkKey([]byte("<node_state id=\"1\" uname=\"a>b\">\n    <lrm/>\n</node_state>")); k != chunks[0].Key {
		t.Error("indentation changed the key")
	}
	if k := chunkKey([]byte(`<node_state id="1" uname="a> b"><lrm/></node_state>`)); k == chunks[0].Key {
		t.Error("an attribute value's space did not change the key")
	}
	for _, bad := range []string{`<status><!-- x --></status>`, `<status><other/></status>`, `<nodes/>`, `<status><node_state id="1">`, `<status><node_state id="1`} {
		if _, ok := StatusChunks([]byte(bad)); ok {
			t.Errorf("%q: split", bad)
		}
	}
	if c, ok := StatusChunks([]byte(`<cib><status/></cib>`)); !ok || len(c) != 0 {
		t.Errorf("empty status: %v %v", c, ok)
	}
}

// TestConfiguration: the configuration cut out of a CIB parses to the
// same configuration, and a document it cannot cut is refused.
func TestConfiguration(t *testing.T) {
	data, err := os.ReadFile("../testdata/primitives/cib.xml")
	if err != nil {
		t.Fatal(err)
	}
	conf, ok := Configuration(data)
	if !ok || bytes.Contains(conf, []byte("<status")) || !bytes.HasSuffix(conf, []byte("</cib>")) {
		t.Fatalf("Configuration: ok %v, %d bytes", ok, len(conf))
	}
	whole, err := parseTree(data)
	if err != nil {
		t.Fatal(err)
	}
	cut, err := parseTree(conf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cut.child("configuration"), whole.child("configuration")) || !reflect.DeepEqual(cut.attrs, whole.attrs) {
		t.Error("the cut configuration differs")
	}
	for _, bad := range []string{`<cib><configuration/><status></status><extra/></cib>`, `<cib><configuration/></cib>`, `<cib><!-- x --><status/></cib>`} {
		if _, ok := Configuration([]byte(bad)); ok {
			t.Errorf("%q: cut", bad)
		}
	}
}

// FuzzCache: for any document Unpack accepts, applying its own status
// section to the cache gives Unpack's answer; nothing panics.
func FuzzCache(f *testing.F) {
	for _, name := range []string{"primitives", "failed", "guest", "remote", "clones"} {
		if data, err := os.ReadFile("../testdata/" + name + "/cib.xml"); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		StatusChunks(data)
		var c Cache
		want, err := c.Full(data, fixedNow)
		if err != nil {
			return
		}
		tag, status, ok := split(t, data)
		if !ok {
			return
		}
		got, err := c.Status(tag, status, fixedNow)
		if err != nil {
			return // a tag or section that is not well-formed on its own
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("incremental differs from full on %q", data)
		}
	})
}
