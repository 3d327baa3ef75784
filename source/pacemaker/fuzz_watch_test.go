package pacemaker

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParseWatchLine: any line the watcher's pipe carries is parsed or
// refused without a panic, and a line WatchAgent printed is read back.
func FuzzParseWatchLine(f *testing.F) {
	f.Add([]byte("mgmtd-watch: node=node3 rsc=d1 task=stop desc=OK rc=0 target_rc=0 status=0\n"))
	f.Add([]byte("Cluster Summary:\n"))
	f.Add([]byte("mgmtd-watch: node=node1 task=st_notify_fence desc=Operation_st_notify_fence_requested_by_node2_for_node3:_OK\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, ok := ParseWatchLine(line)
		if !ok {
			return
		}
		var b strings.Builder
		env := map[string]string{"CRM_notify_node": e.Node, "CRM_notify_rsc": e.Resource, "CRM_notify_task": e.Task, "CRM_notify_desc": e.Desc}
		if err := WatchAgent(&b, func(k string) string { return env[k] }); err != nil {
			t.Fatal(err)
		}
		clean := utf8.ValidString(e.Node) && utf8.ValidString(e.Resource) && utf8.ValidString(e.Task) && utf8.ValidString(e.Desc) && !strings.ContainsFunc(e.Node+e.Resource+e.Task+e.Desc, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
		if clean && len(b.String()) < 512 {
			if e2, ok := ParseWatchLine([]byte(b.String())); !ok || e2 != e {
				t.Fatalf("round trip %+v -> %q -> %+v", e, b.String(), e2)
			}
		}
	})
}
