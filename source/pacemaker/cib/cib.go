// Package cib parses the configuration part of a Pacemaker CIB, as
// `cibadmin --query` prints it or as a CIB file holds it. It is a pure
// parser over bytes: it runs nothing and imports nothing of mgmtd's.
//
// The root element is pinned to cib. Both the current and the older
// spellings are accepted (promotable clones as <clone> with meta
// promotable=true or as the pre-2.0 <master>).
package cib

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// MaxSize bounds the document size Parse accepts.
const MaxSize = 256 << 20

// CIB is a parsed CIB document.
type CIB struct {
	XMLName        xml.Name      `xml:"cib"`
	Epoch          string        `xml:"epoch,attr"`
	NumUpdates     string        `xml:"num_updates,attr"`
	AdminEpoch     string        `xml:"admin_epoch,attr"`
	ValidateWith   string        `xml:"validate-with,attr"`
	FeatureSet     string        `xml:"crm_feature_set,attr"`
	HaveQuorum     string        `xml:"have-quorum,attr"`
	DCUUID         string        `xml:"dc-uuid,attr"`
	CIBLastWritten string        `xml:"cib-last-written,attr"`
	Configuration  Configuration `xml:"configuration"`
}

// Configuration is the configuration section.
type Configuration struct {
	CrmConfig   []NVSet     `xml:"crm_config>cluster_property_set"`
	Nodes       []Node      `xml:"nodes>node"`
	Resources   Resources   `xml:"resources"`
	Constraints Constraints `xml:"constraints"`
	RscDefaults []NVSet     `xml:"rsc_defaults>meta_attributes"`
}

// NVSet is a set of name/value pairs (meta_attributes,
// instance_attributes, cluster_property_set, utilization).
type NVSet struct {
	ID    string   `xml:"id,attr"`
	IDRef string   `xml:"id-ref,attr"`
	Pairs []NVPair `xml:"nvpair"`
	Rules []Rule   `xml:"rule"`
}

// NVPair is one name/value pair.
type NVPair struct {
	ID    string `xml:"id,attr"`
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Node is a configured node.
type Node struct {
	ID          string  `xml:"id,attr"`
	Uname       string  `xml:"uname,attr"`
	Type        string  `xml:"type,attr"`
	Attrs       []NVSet `xml:"instance_attributes"`
	Utilization []NVSet `xml:"utilization"`
}

// Resources is the resources section.
type Resources struct {
	Primitives []Primitive `xml:"primitive"`
	Groups     []Group     `xml:"group"`
	Clones     []Clone     `xml:"clone"`
	Masters    []Clone     `xml:"master"`
	Bundles    []Bundle    `xml:"bundle"`
}

// Primitive is a primitive resource.
type Primitive struct {
	ID          string  `xml:"id,attr"`
	Class       string  `xml:"class,attr"`
	Provider    string  `xml:"provider,attr"`
	Type        string  `xml:"type,attr"`
	Template    string  `xml:"template,attr"`
	Description string  `xml:"description,attr"`
	Meta        []NVSet `xml:"meta_attributes"`
	Params      []NVSet `xml:"instance_attributes"`
	Ops         []Op    `xml:"operations>op"`
}

// Op is a configured operation of a primitive.
type Op struct {
	ID       string `xml:"id,attr"`
	Name     string `xml:"name,attr"`
	Interval string `xml:"interval,attr"`
	Role     string `xml:"role,attr"`
}

// Agent returns class:provider:type (or class:type without a provider).
func (p Primitive) Agent() string {
	if p.Provider != "" {
		return p.Class + ":" + p.Provider + ":" + p.Type
	}
	if p.Class == "" && p.Type == "" {
		return ""
	}
	return p.Class + ":" + p.Type
}

// Group is a group of primitives.
type Group struct {
	ID          string      `xml:"id,attr"`
	Description string      `xml:"description,attr"`
	Meta        []NVSet     `xml:"meta_attributes"`
	Primitives  []Primitive `xml:"primitive"`
}

// Clone is a clone (or promotable clone, or pre-2.0 master) of a primitive
// or a group.
type Clone struct {
	ID          string     `xml:"id,attr"`
	Description string     `xml:"description,attr"`
	Meta        []NVSet    `xml:"meta_attributes"`
	Primitive   *Primitive `xml:"primitive"`
	Group       *Group     `xml:"group"`
	Master      bool       `xml:"-"`
}

// Bundle is a containerized resource set.
type Bundle struct {
	ID          string     `xml:"id,attr"`
	Description string     `xml:"description,attr"`
	Meta        []NVSet    `xml:"meta_attributes"`
	Docker      *Container `xml:"docker"`
	Podman      *Container `xml:"podman"`
	Rkt         *Container `xml:"rkt"`
	Network     *Network   `xml:"network"`
	Primitive   *Primitive `xml:"primitive"`
}

// Container is the container runtime element of a bundle.
type Container struct {
	Image       string `xml:"image,attr"`
	Replicas    string `xml:"replicas,attr"`
	PromotedMax string `xml:"promoted-max,attr"`
}

// Network is a bundle's network element.
type Network struct {
	IPRangeStart  string `xml:"ip-range-start,attr"`
	ControlPort   string `xml:"control-port,attr"`
	HostNetmask   string `xml:"host-netmask,attr"`
	HostInterface string `xml:"host-interface,attr"`
}

// Runtime returns the bundle's container element and its kind.
func (b Bundle) Runtime() (string, *Container) {
	switch {
	case b.Podman != nil:
		return "podman", b.Podman
	case b.Docker != nil:
		return "docker", b.Docker
	case b.Rkt != nil:
		return "rkt", b.Rkt
	}
	return "", nil
}

// Constraints is the constraints section.
type Constraints struct {
	Locations   []Location   `xml:"rsc_location"`
	Colocations []Colocation `xml:"rsc_colocation"`
	Orders      []Order      `xml:"rsc_order"`
	Tickets     []Ticket     `xml:"rsc_ticket"`
}

// ResourceSet is a resource_set in a constraint.
type ResourceSet struct {
	ID   string `xml:"id,attr"`
	Role string `xml:"role,attr"`
	Refs []struct {
		ID string `xml:"id,attr"`
	} `xml:"resource_ref"`
}

// IDs returns the resource ids of the set.
func (s ResourceSet) IDs() []string {
	out := make([]string, len(s.Refs))
	for i, r := range s.Refs {
		out[i] = r.ID
	}
	return out
}

// Rule is a location rule (only what is needed to show it).
type Rule struct {
	ID        string `xml:"id,attr"`
	Score     string `xml:"score,attr"`
	BooleanOp string `xml:"boolean-op,attr"`
	Role      string `xml:"role,attr"`
	Exprs     []struct {
		Attribute string `xml:"attribute,attr"`
		Operation string `xml:"operation,attr"`
		Value     string `xml:"value,attr"`
	} `xml:"expression"`
}

// String renders a rule for display.
func (r Rule) String() string {
	var parts []string
	for _, e := range r.Exprs {
		parts = append(parts, strings.TrimSpace(e.Attribute+" "+e.Operation+" "+e.Value))
	}
	op := r.BooleanOp
	if op == "" {
		op = "and"
	}
	return strings.Join(parts, " "+op+" ")
}

// Location is an rsc_location constraint.
type Location struct {
	ID         string        `xml:"id,attr"`
	Rsc        string        `xml:"rsc,attr"`
	RscPattern string        `xml:"rsc-pattern,attr"`
	Node       string        `xml:"node,attr"`
	Score      string        `xml:"score,attr"`
	Role       string        `xml:"role,attr"`
	Rules      []Rule        `xml:"rule"`
	Sets       []ResourceSet `xml:"resource_set"`
}

// Colocation is an rsc_colocation constraint.
type Colocation struct {
	ID          string        `xml:"id,attr"`
	Rsc         string        `xml:"rsc,attr"`
	WithRsc     string        `xml:"with-rsc,attr"`
	Score       string        `xml:"score,attr"`
	RscRole     string        `xml:"rsc-role,attr"`
	WithRscRole string        `xml:"with-rsc-role,attr"`
	Sets        []ResourceSet `xml:"resource_set"`
}

// Order is an rsc_order constraint.
type Order struct {
	ID          string        `xml:"id,attr"`
	First       string        `xml:"first,attr"`
	Then        string        `xml:"then,attr"`
	FirstAction string        `xml:"first-action,attr"`
	ThenAction  string        `xml:"then-action,attr"`
	Kind        string        `xml:"kind,attr"`
	Score       string        `xml:"score,attr"`
	Symmetrical string        `xml:"symmetrical,attr"`
	Sets        []ResourceSet `xml:"resource_set"`
}

// Ticket is an rsc_ticket constraint.
type Ticket struct {
	ID      string `xml:"id,attr"`
	Rsc     string `xml:"rsc,attr"`
	Ticket  string `xml:"ticket,attr"`
	RscRole string `xml:"rsc-role,attr"`
}

// ParseError is a document that is not a usable CIB.
type ParseError struct {
	Offset int64
	Msg    string
}

func (e *ParseError) Error() string {
	if e.Offset > 0 {
		return fmt.Sprintf("cib xml at byte %d: %s", e.Offset, e.Msg)
	}
	return "cib xml: " + e.Msg
}

// Parse decodes a CIB document. The status section is skipped: crm_mon's
// rendering of it is what mgmtd reads.
func Parse(data []byte) (*CIB, error) {
	if len(data) > MaxSize {
		return nil, &ParseError{Msg: fmt.Sprintf("document of %d bytes exceeds %d", len(data), MaxSize)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &ParseError{Msg: "empty document"}
	}
	var c CIB
	data = withoutStatus(data)
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	if err := d.Decode(&c); err != nil {
		return nil, &ParseError{Offset: d.InputOffset(), Msg: err.Error()}
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &ParseError{Offset: d.InputOffset(), Msg: err.Error()}
		}
		if cd, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(cd)) == 0 {
			continue
		}
		if _, ok := tok.(xml.Comment); ok {
			continue
		}
		return nil, &ParseError{Offset: d.InputOffset(), Msg: "content after the root element"}
	}
	for i := range c.Configuration.Resources.Masters {
		c.Configuration.Resources.Masters[i].Master = true
	}
	return &c, nil
}

// Values flattens name/value sets into one map; the first set wins for a
// name, as Pacemaker's default ordering does for sets without rules.
func Values(sets []NVSet) map[string]string {
	var m map[string]string
	for _, s := range sets {
		for _, p := range s.Pairs {
			if m == nil {
				m = map[string]string{}
			}
			if _, ok := m[p.Name]; !ok {
				m[p.Name] = p.Value
			}
		}
	}
	return m
}

// Property returns a cluster property from crm_config.
func (c *CIB) Property(name string) (string, bool) {
	v, ok := Values(c.Configuration.CrmConfig)[name]
	return v, ok
}

// withoutStatus drops the status section, which is most of a live CIB and
// which mgmtd reads through crm_mon instead: the configuration is decoded
// from the document up to </configuration>, closed with </cib>. A document
// without exactly that shape is decoded whole.
func withoutStatus(data []byte) []byte {
	const endConf = "</configuration>"
	i := bytes.Index(data, []byte(endConf))
	if i < 0 || bytes.Contains(data[i+len(endConf):], []byte(endConf)) {
		return data
	}
	rest := bytes.TrimSpace(data[i+len(endConf):])
	if !bytes.HasSuffix(rest, []byte("</cib>")) || !bytes.HasPrefix(rest, []byte("<status")) && !bytes.HasPrefix(rest, []byte("</cib>")) {
		return data
	}
	out := make([]byte, 0, i+len(endConf)+6)
	out = append(out, data[:i+len(endConf)]...)
	return append(out, "</cib>"...)
}
