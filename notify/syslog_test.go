package notify_test

import (
	"strings"
	"testing"

	"mgmtd/model"
	"mgmtd/notify"
)

// parse5424 splits an RFC 5424 message into its six header fields, the
// structured data's parameters and MSG, following the RFC's grammar
// (PRINTUSASCII header fields, SD-PARAM values with \", \\ and \]
// escaped). It fails on anything else.
func parse5424(t *testing.T, msg string) (hdr []string, params map[string]string, text string) {
	t.Helper()
	for range 6 {
		i := strings.IndexByte(msg, ' ')
		if i <= 0 {
			t.Fatalf("header: %q", msg)
		}
		f := msg[:i]
		for j := 0; j < len(f); j++ {
			if f[j] < 33 || f[j] > 126 {
				t.Fatalf("header field %q has byte %#x", f, f[j])
			}
		}
		hdr = append(hdr, f)
		msg = msg[i+1:]
	}
	if !strings.HasPrefix(msg, "["+notify.SDID) {
		t.Fatalf("structured data: %q", msg)
	}
	msg = msg[len(notify.SDID)+1:]
	params = map[string]string{}
	for {
		if strings.HasPrefix(msg, "] ") {
			text = msg[2:]
			break
		}
		if !strings.HasPrefix(msg, " ") {
			t.Fatalf("param: %q", msg)
		}
		eq := strings.Index(msg, `="`)
		if eq < 0 {
			t.Fatalf("param: %q", msg)
		}
		name := msg[1:eq]
		msg = msg[eq+2:]
		var v strings.Builder
		for {
			if msg == "" {
				t.Fatal("unterminated param value")
			}
			c := msg[0]
			if c == '\\' && len(msg) > 1 && strings.ContainsRune(`"\]`, rune(msg[1])) {
				v.WriteByte(msg[1])
				msg = msg[2:]
				continue
			}
			if c == '"' {
				msg = msg[1:]
				break
			}
			if c == ']' {
				t.Fatalf("unescaped ] in %s", name)
			}
			v.WriteByte(c)
			msg = msg[1:]
		}
		params[name] = v.String()
	}
	return hdr, params, text
}

// FuzzSyslogFormat: whatever the event's names and message hold, the
// message is valid RFC 5424 whose fields read back.
func FuzzSyslogFormat(f *testing.F) {
	f.Add("node.left", "hv1", "hv1", "node hv1 left (unclean)", "critical")
	f.Add("resource.failed", `we"b]\x`, "app1", "resource web-srv failed monitor on app1: not running", "warning")
	f.Add("", "", "", "", "")
	f.Add("a b", "ü\n", "\xff", "line\nbreak\r\x00", "info")
	f.Fuzz(func(t *testing.T, typ, object, node, message, sev string) {
		s, err := notify.NewSyslog(notify.SyslogConfig{Network: "udp", Addr: "127.0.0.1:514", Facility: "local3"})
		if err != nil {
			t.Fatal(err)
		}
		m := notify.Message{ID: "hv1-7", Cluster: "demo", View: "hv1", Event: model.Event{Type: model.EventType(typ), Severity: model.Severity(sev),
			Object: model.ID{Cluster: "demo", Kind: model.KindResource, Name: object}, Node: node, Message: message}}
		hdr, params, text := parse5424(t, string(s.Format(m)))
		if !strings.HasPrefix(hdr[0], "<") || !strings.HasSuffix(hdr[0], ">1") || hdr[3] != "mgmtd" {
			t.Fatalf("header %q", hdr)
		}
		if len(hdr[5]) > 32 || len(hdr[2]) > 255 {
			t.Fatalf("field too long: %q", hdr)
		}
		clean := func(s string) string {
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return ' '
				}
				return r
			}, strings.ToValidUTF8(s, "?"))
		}
		if object != "" && len(object) < 1000 && params["object"] != clean(object) {
			t.Fatalf("object %q read back as %q", object, params["object"])
		}
		if strings.ContainsAny(text, "\n\r") || !strings.HasPrefix(text, "\ufeff") {
			t.Fatalf("MSG %q", text)
		}
	})
}
