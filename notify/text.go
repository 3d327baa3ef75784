package notify

import (
	"fmt"
	"strings"
	"time"
)

// Subject is the one-line summary of m: "[prefix] CRITICAL demo: node
// hv1 left (unclean)".
func Subject(prefix string, m Message) string {
	s := fmt.Sprintf("%s %s %s: %s", prefix, strings.ToUpper(string(m.Event.Severity)), m.Cluster, m.Event.Message)
	return oneLine(strings.TrimSpace(s), 200)
}

// Text is the plain-text description of m (the e-mail body).
func Text(m Message) string {
	e := m.Event
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", e.Message)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-11s %s\n", k+":", v)
		}
	}
	row("Cluster", m.Cluster)
	row("Event", string(e.Type))
	row("Severity", string(e.Severity))
	row("Object", string(e.Object.Kind)+" "+e.Object.Name)
	row("Node", e.Node)
	row("From", e.From)
	row("To", e.To)
	row("Time", e.Time.UTC().Format(time.RFC3339))
	row("Generation", fmt.Sprint(e.Generation))
	row("Sent by", "mgmtd on "+m.View)
	row("Id", m.ID)
	return b.String()
}

// oneLine removes line breaks and control characters and cuts s to n
// bytes at a rune boundary.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
