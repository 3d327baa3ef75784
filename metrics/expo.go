// Package metrics renders mgmtd's Prometheus metrics: the model snapshot
// (cluster, nodes, resources - stopped ones too -, fail counts,
// constraints, fencing, Corosync membership and links, hosts and VMs,
// sources) and the daemon's own internals (tool runs, the event log,
// notification channels, the audit writer), in the Prometheus text
// exposition format 0.0.4.
//
// Nothing here runs a tool or waits: a scrape renders the snapshot the
// store already holds, and the internals the wiring reads from counters.
// Where ClusterLabs' ha_cluster_exporter has a metric, the same name and
// labels are used so that its dashboards keep working; where it is wrong
// (a timestamp typed as a counter, KiB instead of bytes, stopped
// resources missing) mgmtd is right and says so in docs/metrics.md.
//
// metrics imports only model (and the standard library); the wiring
// (package mgmtd) fills Internals and mounts the handler through rest.
package metrics

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Type is a metric family's type.
type Type string

// The types mgmtd exposes.
const (
	Gauge     Type = "gauge"
	Counter   Type = "counter"
	Histogram Type = "histogram"
)

// Exposition collects metric families and writes them in the text format.
// Families are written in the order they were declared, samples in the
// order they were added; a sample whose label set repeats one already in
// its family is dropped (a scrape with duplicate series is rejected as a
// whole by Prometheus), and Duplicates counts it.
type Exposition struct {
	fams       []*Family
	byName     map[string]*Family
	Duplicates int
}

// Family is one metric family: a name, its help, its type and samples.
type Family struct {
	e       *Exposition
	name    string
	help    string
	typ     Type
	samples []sample
	seen    map[string]bool
}

type sample struct {
	suffix string // _bucket, _sum, _count for histograms
	labels string // rendered {a="b",...} or ""
	value  float64
}

// NewExposition returns an empty exposition.
func NewExposition() *Exposition { return &Exposition{byName: map[string]*Family{}} }

// Family declares (or returns the already declared) family name. It
// panics on a name or type that is not valid: names are constants of this
// package, so that is a programmer's error.
func (e *Exposition) Family(name string, typ Type, help string) *Family {
	if f, ok := e.byName[name]; ok {
		if f.typ != typ {
			panic("metrics: family " + name + " declared as " + string(f.typ) + " and " + string(typ))
		}
		return f
	}
	if !validName(name) {
		panic("metrics: invalid metric name " + strconv.Quote(name))
	}
	f := &Family{e: e, name: name, help: help, typ: typ, seen: map[string]bool{}}
	e.fams = append(e.fams, f)
	e.byName[name] = f
	return f
}

// Add adds a sample with labels given as name, value pairs. An odd count
// or an invalid label name panics (a programmer's error); label values may
// be any string.
func (f *Family) Add(v float64, labels ...string) {
	f.add("", v, labels...)
}

func (f *Family) add(suffix string, v float64, labels ...string) {
	ls := renderLabels(labels)
	key := ls
	if suffix != "" {
		key = suffix + ls
	}
	if f.seen[key] {
		f.e.Duplicates++
		return
	}
	f.seen[key] = true
	f.samples = append(f.samples, sample{suffix: suffix, labels: ls, value: v})
}

// Bool adds 1 for true and 0 for false.
func (f *Family) Bool(b bool, labels ...string) {
	v := 0.0
	if b {
		v = 1
	}
	f.Add(v, labels...)
}

// AddHistogram adds one histogram: cumulative bucket counts for the upper
// bounds (without +Inf), the sum and the count.
func (f *Family) AddHistogram(bounds []float64, cumulative []uint64, sum float64, count uint64, labels ...string) {
	for i, b := range bounds {
		f.add("_bucket", float64(cumulative[i]), append(append([]string(nil), labels...), "le", formatFloat(b))...)
	}
	f.add("_bucket", float64(count), append(append([]string(nil), labels...), "le", "+Inf")...)
	f.add("_sum", sum, labels...)
	f.add("_count", float64(count), labels...)
}

// Len is the number of samples in the family.
func (f *Family) Len() int { return len(f.samples) }

// Names lists the declared families, in order.
func (e *Exposition) Names() []string {
	out := make([]string, len(e.fams))
	for i, f := range e.fams {
		out[i] = f.name
	}
	return out
}

// WriteTo writes the exposition in the text format 0.0.4. Families
// without samples are left out.
func (e *Exposition) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 32<<10)
	for _, f := range e.fams {
		if len(f.samples) == 0 {
			continue
		}
		bw.WriteString("# HELP ")
		bw.WriteString(f.name)
		bw.WriteByte(' ')
		bw.WriteString(escapeHelp(f.help))
		bw.WriteString("\n# TYPE ")
		bw.WriteString(f.name)
		bw.WriteByte(' ')
		bw.WriteString(string(f.typ))
		bw.WriteByte('\n')
		for _, s := range f.samples {
			bw.WriteString(f.name)
			bw.WriteString(s.suffix)
			bw.WriteString(s.labels)
			bw.WriteByte(' ')
			bw.WriteString(formatFloat(s.value))
			bw.WriteByte('\n')
		}
	}
	err := bw.Flush()
	return cw.n, err
}

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func renderLabels(pairs []string) string {
	if len(pairs)%2 != 0 {
		panic("metrics: odd number of label arguments")
	}
	if len(pairs) == 0 {
		return ""
	}
	// Sorted by name, so that a series has one rendering; an insertion
	// sort of indexes on the stack (label sets are small).
	var idx [16]int
	n := len(pairs) / 2
	if n > len(idx) {
		panic("metrics: more than 16 labels")
	}
	size := 2
	for i := 0; i < n; i++ {
		k := pairs[2*i]
		if !validLabel(k) {
			panic("metrics: invalid label name " + strconv.Quote(k))
		}
		j := i
		for ; j > 0 && pairs[2*idx[j-1]] > k; j-- {
			idx[j] = idx[j-1]
		}
		idx[j] = i
		size += len(k) + len(pairs[2*i+1]) + 4
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteByte('{')
	for i := 0; i < n; i++ {
		k, v := pairs[2*idx[i]], pairs[2*idx[i]+1]
		if i > 0 {
			if k == pairs[2*idx[i-1]] {
				panic("metrics: label " + k + " given twice")
			}
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteString(`="`)
		if needsEscape(v) {
			b.WriteString(escapeValue(v))
		} else {
			b.WriteString(v)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// needsEscape reports whether v holds a byte the format escapes, or is
// not valid UTF-8.
func needsEscape(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\\' || c == '"' || c == '\n' || c >= 0x80 {
			return !utf8.ValidString(v) || strings.ContainsAny(v, "\\\"\n")
		}
	}
	return false
}

var valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

// escapeValue escapes a label value; bytes that are not valid UTF-8 are
// replaced, since the format is UTF-8.
func escapeValue(s string) string { return valueEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD")) }

func escapeHelp(s string) string { return helpEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD")) }

// validName: [a-zA-Z_:][a-zA-Z0-9_:]*
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		ok := c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// validLabel: [a-zA-Z_][a-zA-Z0-9_]*, not starting with __.
func validLabel(s string) bool {
	return s != "" && !strings.HasPrefix(s, "__") && !strings.Contains(s, ":") && validName(s)
}
