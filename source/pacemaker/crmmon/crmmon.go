// Package crmmon parses the XML that `crm_mon --output-as=xml` and
// `crm_simulate --output-as=xml` print (Pacemaker 2.0 to 3.x; schemas in
// Pacemaker's xml/api/crm_mon-*.rng). It is a pure parser over bytes: it
// runs nothing and imports nothing of mgmtd's, so it can be fuzzed.
//
// The root element is pinned to pacemaker-result; a document with another
// root, or one whose status code is not 0, is an error. Attributes that
// differ between Pacemaker versions (role names Master/Slave versus
// Promoted/Unpromoted, optional attributes, time formats) are tolerated.
package crmmon

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// MaxSize bounds the document size Parse accepts.
const MaxSize = 256 << 20

// Result is a crm_mon (or crm_simulate) XML document.
type Result struct {
	XMLName        xml.Name      `xml:"pacemaker-result"`
	APIVersion     string        `xml:"api-version,attr"`
	Request        string        `xml:"request,attr"`
	Summary        *Summary      `xml:"summary"`
	Nodes          []Node        `xml:"nodes>node"`
	Resources      Resources     `xml:"resources"`
	NodeAttributes []NodeAttrs   `xml:"node_attributes>node"`
	NodeHistory    []NodeHistory `xml:"node_history>node"`
	Failures       []Failure     `xml:"failures>failure"`
	FenceHistory   []FenceEvent  `xml:"fence_history>fence_event"`
	// Lists are the generic lists other tools print (stonith_admin's
	// "fencing history").
	Lists  []List `xml:"list"`
	Status Status `xml:"status"`
	// crm_simulate only.
	ClusterStatus        *Snapshot `xml:"cluster_status"`
	Actions              []Action  `xml:"actions>rsc_action"`
	NodeActions          []Action  `xml:"actions>node_action"`
	RevisedClusterStatus *Snapshot `xml:"revised_cluster_status"`
}

// Snapshot is the nodes and resources part that crm_simulate prints before
// and after its transition.
type Snapshot struct {
	Nodes     []Node    `xml:"nodes>node"`
	Resources Resources `xml:"resources"`
}

// Summary is the cluster summary.
type Summary struct {
	Stack struct {
		Type string `xml:"type,attr"`
	} `xml:"stack"`
	CurrentDC struct {
		Present    string `xml:"present,attr"`
		Version    string `xml:"version,attr"`
		Name       string `xml:"name,attr"`
		ID         string `xml:"id,attr"`
		WithQuorum string `xml:"with_quorum,attr"`
	} `xml:"current_dc"`
	LastUpdate struct {
		Time string `xml:"time,attr"`
	} `xml:"last_update"`
	LastChange struct {
		Time   string `xml:"time,attr"`
		User   string `xml:"user,attr"`
		Client string `xml:"client,attr"`
		Origin string `xml:"origin,attr"`
	} `xml:"last_change"`
	NodesConfigured struct {
		Number int `xml:"number,attr"`
	} `xml:"nodes_configured"`
	ResourcesConfigured struct {
		Number   int `xml:"number,attr"`
		Disabled int `xml:"disabled,attr"`
		Blocked  int `xml:"blocked,attr"`
	} `xml:"resources_configured"`
	ClusterOptions struct {
		StonithEnabled   string `xml:"stonith-enabled,attr"`
		SymmetricCluster string `xml:"symmetric-cluster,attr"`
		NoQuorumPolicy   string `xml:"no-quorum-policy,attr"`
		MaintenanceMode  string `xml:"maintenance-mode,attr"`
		StopAllResources string `xml:"stop-all-resources,attr"`
	} `xml:"cluster_options"`
}

// Node is a node line.
type Node struct {
	Name             string `xml:"name,attr"`
	ID               string `xml:"id,attr"`
	Online           string `xml:"online,attr"`
	Standby          string `xml:"standby,attr"`
	StandbyOnFail    string `xml:"standby_onfail,attr"`
	Maintenance      string `xml:"maintenance,attr"`
	Pending          string `xml:"pending,attr"`
	Unclean          string `xml:"unclean,attr"`
	Shutdown         string `xml:"shutdown,attr"`
	ExpectedUp       string `xml:"expected_up,attr"`
	IsDC             string `xml:"is_dc,attr"`
	ResourcesRunning int    `xml:"resources_running,attr"`
	Type             string `xml:"type,attr"`
	IDAsResource     string `xml:"id_as_resource,attr"`
}

// Resources holds the top-level resources of each kind.
type Resources struct {
	Primitives []Primitive `xml:"resource"`
	Groups     []Group     `xml:"group"`
	Clones     []Clone     `xml:"clone"`
	Bundles    []Bundle    `xml:"bundle"`
}

// Primitive is a resource element: one primitive (instance) with the nodes
// it is active on.
type Primitive struct {
	ID             string `xml:"id,attr"`
	Agent          string `xml:"resource_agent,attr"`
	Role           string `xml:"role,attr"`
	TargetRole     string `xml:"target_role,attr"`
	Active         string `xml:"active,attr"`
	Orphaned       string `xml:"orphaned,attr"`
	Blocked        string `xml:"blocked,attr"`
	Maintenance    string `xml:"maintenance,attr"`
	Managed        string `xml:"managed,attr"`
	Failed         string `xml:"failed,attr"`
	FailureIgnored string `xml:"failure_ignored,attr"`
	NodesRunningOn int    `xml:"nodes_running_on,attr"`
	Pending        string `xml:"pending,attr"`
	Locked         string `xml:"locked_to,attr"`
	Nodes          []struct {
		Name string `xml:"name,attr"`
		ID   string `xml:"id,attr"`
	} `xml:"node"`
}

// Group is a group element.
type Group struct {
	ID          string      `xml:"id,attr"`
	Managed     string      `xml:"managed,attr"`
	Disabled    string      `xml:"disabled,attr"`
	Maintenance string      `xml:"maintenance,attr"`
	Primitives  []Primitive `xml:"resource"`
}

// Clone is a clone element (multi_state marks a promotable clone).
type Clone struct {
	ID          string      `xml:"id,attr"`
	MultiState  string      `xml:"multi_state,attr"`
	Unique      string      `xml:"unique,attr"`
	Managed     string      `xml:"managed,attr"`
	Disabled    string      `xml:"disabled,attr"`
	Failed      string      `xml:"failed,attr"`
	Maintenance string      `xml:"maintenance,attr"`
	TargetRole  string      `xml:"target_role,attr"`
	Primitives  []Primitive `xml:"resource"`
	Groups      []Group     `xml:"group"`
}

// Bundle is a bundle element with its replicas.
type Bundle struct {
	ID       string    `xml:"id,attr"`
	Type     string    `xml:"type,attr"`
	Image    string    `xml:"image,attr"`
	Unique   string    `xml:"unique,attr"`
	Managed  string    `xml:"managed,attr"`
	Failed   string    `xml:"failed,attr"`
	Replicas []Replica `xml:"replica"`
}

// Replica is one bundle replica.
type Replica struct {
	ID         string      `xml:"id,attr"`
	Primitives []Primitive `xml:"resource"`
}

// NodeAttrs lists a node's attributes.
type NodeAttrs struct {
	Name       string `xml:"name,attr"`
	Attributes []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"attribute"`
}

// NodeHistory is a node's resource history (fail counts).
type NodeHistory struct {
	Name      string `xml:"name,attr"`
	Resources []struct {
		ID                 string `xml:"id,attr"`
		Orphan             string `xml:"orphan,attr"`
		MigrationThreshold string `xml:"migration-threshold,attr"`
		FailCount          string `xml:"fail-count,attr"`
		LastFailure        string `xml:"last-failure,attr"`
	} `xml:"resource_history"`
}

// Failure is a failed operation.
type Failure struct {
	OpKey        string `xml:"op_key,attr"`
	ID           string `xml:"id,attr"` // Pacemaker 2.0 uses id instead of op_key
	Node         string `xml:"node,attr"`
	ExitStatus   string `xml:"exitstatus,attr"`
	ExitReason   string `xml:"exitreason,attr"`
	ExitCode     string `xml:"exitcode,attr"`
	Call         string `xml:"call,attr"`
	Status       string `xml:"status,attr"`
	LastRCChange string `xml:"last-rc-change,attr"`
	Interval     string `xml:"interval,attr"`
	Task         string `xml:"task,attr"`
}

// List is a generic list in a tool's result.
type List struct {
	Name        string       `xml:"name,attr"`
	FenceEvents []FenceEvent `xml:"fence_event"`
}

// ParseFenceHistory decodes `stonith_admin --output-as=xml --history`:
// the fencer's history, with crm_mon's fence_event elements, in a list
// named "fencing history".
func ParseFenceHistory(data []byte) ([]FenceEvent, error) {
	r, err := decode(data)
	if err != nil {
		return nil, err
	}
	for _, l := range r.Lists {
		if l.Name == "fencing history" {
			return l.FenceEvents, nil
		}
	}
	if r.FenceHistory != nil {
		return r.FenceHistory, nil
	}
	return nil, &ParseError{Msg: "no fencing history in the result"}
}

// FenceEvent is one fencing history entry.
type FenceEvent struct {
	Action     string `xml:"action,attr"`
	Target     string `xml:"target,attr"`
	Client     string `xml:"client,attr"`
	Origin     string `xml:"origin,attr"`
	Status     string `xml:"status,attr"`
	ExitStatus string `xml:"exit-status,attr"`
	ExitReason string `xml:"exit-reason,attr"`
	Delegate   string `xml:"delegate,attr"`
	Completed  string `xml:"completed,attr"`
	Extended   string `xml:"extended-status,attr"`
}

// Status is the result status of the command.
type Status struct {
	Code    string   `xml:"code,attr"`
	Message string   `xml:"message,attr"`
	Errors  []string `xml:"errors>error"`
}

// Action is one predicted action of crm_simulate.
type Action struct {
	Action   string `xml:"action,attr"`
	Resource string `xml:"resource,attr"`
	Source   string `xml:"source,attr"`
	Dest     string `xml:"dest,attr"`
	Role     string `xml:"role,attr"`
	NextRole string `xml:"next_role,attr"`
	Reason   string `xml:"reason,attr"`
	Blocked  string `xml:"blocked,attr"`
	Node     string `xml:"node,attr"`
	Task     string `xml:"task,attr"`
}

// ParseError is a document that is not a usable crm_mon result.
type ParseError struct {
	Offset int64 // byte offset where decoding stopped, if known
	Msg    string
}

func (e *ParseError) Error() string {
	if e.Offset > 0 {
		return fmt.Sprintf("crm_mon xml at byte %d: %s", e.Offset, e.Msg)
	}
	return "crm_mon xml: " + e.Msg
}

// ErrStatus is wrapped by the error Parse returns for a well-formed result
// whose status code is not 0 (for example 102, "Not connected").
var ErrStatus = errors.New("crm_mon reported an error")

// decode decodes a Pacemaker tool's XML result (size, strictness, one
// document, its status).
func decode(data []byte) (*Result, error) {
	if len(data) > MaxSize {
		return nil, &ParseError{Msg: fmt.Sprintf("document of %d bytes exceeds %d", len(data), MaxSize)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &ParseError{Msg: "empty document"}
	}
	var r Result
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	if err := d.Decode(&r); err != nil {
		return nil, &ParseError{Offset: d.InputOffset(), Msg: err.Error()}
	}
	// A trailing second document or garbage after the root is an error too.
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				break
			}
			return nil, &ParseError{Offset: d.InputOffset(), Msg: err.Error()}
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, &ParseError{Offset: d.InputOffset(), Msg: "text after the root element"}
			}
		case xml.Comment, xml.ProcInst:
		default:
			return nil, &ParseError{Offset: d.InputOffset(), Msg: "content after the root element"}
		}
	}
	if r.Status.Code == "" {
		return nil, &ParseError{Msg: "no status element (truncated output?)"}
	}
	if r.Status.Code == "0" && len(r.Status.Errors) > 0 {
		// crm_mon exits 0 with code 0 and only an error list when it
		// cannot read the CIB (a missing or invalid CIB_file).
		return &r, fmt.Errorf("%w: %s", ErrStatus, strings.Join(r.Status.Errors, "; "))
	}
	if r.Status.Code != "0" {
		msg := r.Status.Message
		if len(r.Status.Errors) > 0 {
			msg += ": " + strings.Join(r.Status.Errors, "; ")
		}
		return &r, fmt.Errorf("%w: code %s: %s", ErrStatus, r.Status.Code, msg)
	}
	return &r, nil
}

// Parse decodes a crm_mon or crm_simulate XML document.
func Parse(data []byte) (*Result, error) {
	r, err := decode(data)
	if r == nil {
		return nil, err
	}
	if err == nil && r.Summary == nil && r.ClusterStatus == nil {
		return nil, &ParseError{Msg: "no cluster status in the document (request " + strconvQuote(r.Request) + ")"}
	}
	if r.Summary == nil {
		r.Summary = &Summary{}
	}
	return r, err
}

// Bool reads a crm_mon boolean attribute.
func Bool(s string) bool {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1", "y":
		return true
	}
	return false
}

// Int reads an integer attribute, accepting INFINITY as a large number.
func Int(s string) int {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "INFINITY") || strings.EqualFold(s, "+INFINITY") {
		return 1000000
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

var timeLayouts = []string{
	"2006-01-02 15:04:05 -07:00",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05.000000 -07:00",
	"2006-01-02T15:04:05Z07:00",
	time.RFC3339Nano,
	"Mon Jan _2 15:04:05 2006",
	"Mon Jan 2 15:04:05 2006",
	"2006-01-02 15:04:05",
	"'2006-01-02 15:04:05 -07:00'",
}

// Time reads the time formats the Pacemaker versions print; a value it
// cannot read is the zero time (the raw text stays available to callers).
func Time(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}

func strconvQuote(s string) string { return strconv.Quote(s) }
