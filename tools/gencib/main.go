// Command gencib writes a large, deterministic Pacemaker CIB (configuration and
// status) for benchmarks: every node online, every resource placed through
// lrm_resource/lrm_rsc_op start (and monitor) entries, so that
//
//	CIB_file=FILE crm_mon --output-as=xml --inactive
//
// shows the resources Started where gencib put them, with no cluster running.
// The mix: plain primitives (ocf:pacemaker:Dummy, ocf:heartbeat:IPaddr2,
// ocf:heartbeat:apache), groups of three, small anonymous clones (clone-max 3),
// one anonymous clone on every node, and about 1% of primitives disabled
// (target-role=Stopped). -resources counts primitives in the configuration.
//
// Usage:
//
//	go run ./tools/gencib -nodes 1000 -resources 10000 -o /tmp/big-cib.xml
//
// gencib is a standalone tool (standard library only); nothing imports it.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Spec says what to generate.
type Spec struct {
	Nodes     int  // cluster member nodes, named node0001 ...
	Resources int  // primitives in the configuration
	Monitors  bool // add a 10 s monitor op and its status entry to every primitive
}

// Validate reports a Spec that cannot be generated.
func (s Spec) Validate() error {
	if s.Nodes < 1 {
		return errors.New("nodes: need at least 1")
	}
	if s.Resources < 0 {
		return errors.New("resources: must not be negative")
	}
	return nil
}

// Stats describes what Generate wrote, so callers can check crm_mon's view.
type Stats struct {
	Primitives int // primitives in the configuration
	Groups     int
	Clones     int
	Disabled   int // primitives with target-role=Stopped
	Started    int // primitive instances placed on a node (clone instances counted per node)
}

// epoch of every operation in the status section (2026-11-01T10:00:00Z).
const opTime = 1793527200

type primitive struct {
	id, class, provider, agent string
	disabled                   bool
	index                      int // used for per-resource parameters
}

type generator struct {
	spec  Spec
	stats Stats
	w     *bufio.Writer
	// lrm[n] lists the primitives started on node n, in order.
	lrm [][]primitive
}

func main() {
	var (
		spec Spec
		out  string
	)
	flag.IntVar(&spec.Nodes, "nodes", 1000, "number of cluster nodes")
	flag.IntVar(&spec.Resources, "resources", 10000, "number of primitives in the configuration")
	flag.BoolVar(&spec.Monitors, "monitors", true, "give every primitive a recurring monitor (config and status)")
	flag.StringVar(&out, "o", "-", "output file (- for standard output)")
	flag.Parse()
	if err := run(spec, out); err != nil {
		fmt.Fprintln(os.Stderr, "gencib:", err)
		os.Exit(1)
	}
}

func run(spec Spec, out string) error {
	if out == "-" {
		_, err := Generate(os.Stdout, spec)
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	st, err := Generate(f, spec)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close output: %w", cerr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gencib: wrote %s: %d nodes, %d primitives (%d groups, %d clones, %d disabled), %d started instances\n",
		out, spec.Nodes, st.Primitives, st.Groups, st.Clones, st.Disabled, st.Started)
	return nil
}

// Generate writes the CIB for spec to w.
func Generate(w io.Writer, spec Spec) (Stats, error) {
	if err := spec.Validate(); err != nil {
		return Stats{}, fmt.Errorf("invalid spec: %w", err)
	}
	g := &generator{spec: spec, w: bufio.NewWriterSize(w, 1<<20), lrm: make([][]primitive, spec.Nodes+1)}
	g.header()
	g.resources()
	g.printf("    </resources>\n    <constraints/>\n  </configuration>\n  <status>\n")
	g.status()
	g.printf("  </status>\n</cib>\n")
	if err := g.w.Flush(); err != nil {
		return Stats{}, fmt.Errorf("write CIB: %w", err)
	}
	return g.stats, nil
}

func (g *generator) printf(format string, args ...any) {
	// Write errors are sticky in bufio.Writer and reported by Flush.
	fmt.Fprintf(g.w, format, args...)
}

func nodeName(n int) string { return fmt.Sprintf("node%04d", n) }

func (g *generator) header() {
	g.printf(`<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="opt-cluster-name" name="cluster-name" value="gencib"/>
        <nvpair id="opt-stonith-enabled" name="stonith-enabled" value="false"/>
        <nvpair id="opt-no-quorum-policy" name="no-quorum-policy" value="stop"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
`)
	for n := 1; n <= g.spec.Nodes; n++ {
		g.printf("      <node id=\"%d\" uname=\"%s\"/>\n", n, nodeName(n))
	}
	g.printf("    </nodes>\n    <resources>\n")
}

var agents = [...]struct{ class, provider, agent string }{
	{"ocf", "pacemaker", "Dummy"},
	{"ocf", "heartbeat", "IPaddr2"},
	{"ocf", "heartbeat", "apache"},
}

// resources writes the configuration and records placements for status.
func (g *generator) resources() {
	left := g.spec.Resources
	next := 0 // placement cursor over nodes
	place := func() int {
		n := next%g.spec.Nodes + 1
		next++
		return n
	}
	newPrim := func(id string, kind int) primitive {
		a := agents[kind%len(agents)]
		g.stats.Primitives++
		return primitive{id: id, class: a.class, provider: a.provider, agent: a.agent, index: g.stats.Primitives}
	}
	if left > 0 {
		// One anonymous clone on every node, like a ping or monitoring agent.
		p := newPrim("ping", 0)
		g.printf("      <clone id=\"ping-clone\">\n")
		g.primitive(p, "        ")
		g.printf("      </clone>\n")
		g.stats.Clones++
		for n := 1; n <= g.spec.Nodes; n++ {
			g.start(p, n)
		}
		left--
	}
	for i := 0; left > 0; i++ {
		switch {
		case i%50 == 0:
			p := newPrim(fmt.Sprintf("cl%05d", i), 0)
			g.printf("      <clone id=\"cl%05d-clone\">\n", i)
			g.printf("        <meta_attributes id=\"cl%05d-clone-meta\">\n", i)
			g.printf("          <nvpair id=\"cl%05d-clone-max\" name=\"clone-max\" value=\"%d\"/>\n", i, min(3, g.spec.Nodes))
			g.printf("        </meta_attributes>\n")
			g.primitive(p, "        ")
			g.printf("      </clone>\n")
			g.stats.Clones++
			for k := 0; k < min(3, g.spec.Nodes); k++ {
				g.start(p, place())
			}
			left--
		case i%10 == 1:
			n := place()
			members := min(3, left)
			g.printf("      <group id=\"grp%05d\">\n", i)
			for m := 0; m < members; m++ {
				p := newPrim(fmt.Sprintf("grp%05d-%c", i, 'a'+m), m+1)
				g.primitive(p, "        ")
				g.start(p, n)
			}
			g.printf("      </group>\n")
			g.stats.Groups++
			left -= members
		default:
			p := newPrim(fmt.Sprintf("rsc%05d", i), i)
			p.disabled = i%97 == 0
			g.primitive(p, "      ")
			if p.disabled {
				g.stats.Disabled++
			} else {
				g.start(p, place())
			}
			left--
		}
	}
}

// primitive writes one primitive definition.
func (g *generator) primitive(p primitive, indent string) {
	g.printf("%s<primitive id=\"%s\" class=\"%s\" provider=\"%s\" type=\"%s\">\n", indent, p.id, p.class, p.provider, p.agent)
	switch p.agent {
	case "IPaddr2":
		g.printf("%s  <instance_attributes id=\"%s-ia\">\n", indent, p.id)
		g.printf("%s    <nvpair id=\"%s-ip\" name=\"ip\" value=\"10.%d.%d.%d\"/>\n", indent, p.id, p.index>>16&255, p.index>>8&255, p.index&255)
		g.printf("%s    <nvpair id=\"%s-cidr\" name=\"cidr_netmask\" value=\"16\"/>\n", indent, p.id)
		g.printf("%s  </instance_attributes>\n", indent)
	case "apache":
		g.printf("%s  <instance_attributes id=\"%s-ia\">\n", indent, p.id)
		g.printf("%s    <nvpair id=\"%s-config\" name=\"configfile\" value=\"/etc/apache2/%s.conf\"/>\n", indent, p.id, p.id)
		g.printf("%s  </instance_attributes>\n", indent)
	}
	if p.disabled {
		g.printf("%s  <meta_attributes id=\"%s-meta\">\n", indent, p.id)
		g.printf("%s    <nvpair id=\"%s-target-role\" name=\"target-role\" value=\"Stopped\"/>\n", indent, p.id)
		g.printf("%s  </meta_attributes>\n", indent)
	}
	if g.spec.Monitors {
		g.printf("%s  <operations>\n", indent)
		g.printf("%s    <op id=\"%s-monitor-10s\" name=\"monitor\" interval=\"10s\" timeout=\"20s\"/>\n", indent, p.id)
		g.printf("%s  </operations>\n", indent)
	}
	g.printf("%s</primitive>\n", indent)
}

// start records that primitive p was started on node n.
func (g *generator) start(p primitive, n int) {
	g.lrm[n] = append(g.lrm[n], p)
	g.stats.Started++
}

const uuid = "00000000-0000-4000-8000-000000000000"

// status writes one online node_state per node with the start (and monitor)
// result of every primitive placed there.
func (g *generator) status() {
	for n := 1; n <= g.spec.Nodes; n++ {
		g.printf("    <node_state id=\"%d\" uname=\"%s\" in_ccm=\"true\" crmd=\"online\" crm-debug-origin=\"gencib\" join=\"member\" expected=\"member\">\n", n, nodeName(n))
		g.printf("      <lrm id=\"%d\">\n        <lrm_resources>\n", n)
		for i, p := range g.lrm[n] {
			call := 2*i + 2
			g.printf("          <lrm_resource id=\"%s\" class=\"%s\" provider=\"%s\" type=\"%s\">\n", p.id, p.class, p.provider, p.agent)
			g.op(p.id+"_last_0", p.id+"_start_0", "start", 0, call)
			if g.spec.Monitors {
				g.op(p.id+"_monitor_10000", p.id+"_monitor_10000", "monitor", 10000, call+1)
			}
			g.printf("          </lrm_resource>\n")
		}
		g.printf("        </lrm_resources>\n      </lrm>\n    </node_state>\n")
	}
}

func (g *generator) op(id, key, task string, interval, call int) {
	g.printf("            <lrm_rsc_op id=\"%s\" operation_key=\"%s\" operation=\"%s\" crm-debug-origin=\"gencib\" crm_feature_set=\"3.16.1\""+
		" transition-key=\"%d:1:0:%s\" transition-magic=\"0:0;%d:1:0:%s\" exit-reason=\"\" call-id=\"%d\" rc-code=\"0\" op-status=\"0\""+
		" interval=\"%d\" last-rc-change=\"%d\" exec-time=\"12\" queue-time=\"0\"/>\n",
		id, key, task, call, uuid, call, uuid, call, interval, opTime)
}
