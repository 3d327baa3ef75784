package wbem

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"mgmtd/wbem/cimxml"
)

// Indication subscriptions (DMTF DSP1054, as pywbem's subscription manager
// makes them): CIM_IndicationFilter, CIM_ListenerDestinationCIMXML and
// CIM_IndicationSubscription instances created and deleted with
// CreateInstance and DeleteInstance in one namespace (interop), kept in
// memory and, with SubscriptionOptions.File, in a JSON file. This file is
// the store; match.go resolves the enabled subscriptions and matches
// indications against their filters; delivery.go posts the indications.

// The subscription classes.
const (
	ClassIndicationFilter          = "CIM_IndicationFilter"
	ClassListenerDestination       = "CIM_ListenerDestination"
	ClassListenerDestinationCIMXML = "CIM_ListenerDestinationCIMXML"
	ClassIndicationSubscription    = "CIM_IndicationSubscription"
)

// IsSubscriptionClass reports whether class (any case) is one of the
// subscription classes the store keeps.
func IsSubscriptionClass(class string) bool {
	switch strings.ToLower(class) {
	case "cim_indicationfilter", "cim_listenerdestination", "cim_listenerdestinationcimxml", "cim_indicationsubscription":
		return true
	}
	return false
}

// SubscriptionClasses returns the DMTF CIM 2.41 definitions of the
// subscription classes (the properties DSP1054 and pywbem use; descriptions
// shortened), for the repository of the store's namespace. Their
// superclass CIM_ManagedElement must be added to the repository first.
func SubscriptionClasses() []*Class {
	p := func(name, typ string, q ...Qualifier) Property {
		return Property{Name: name, Type: typ, Null: true, Qualifiers: q}
	}
	key := func(name string) Property { return p(name, "string", BoolQualifier("Key")) }
	ref := func(name, class string) Property {
		return Property{Name: name, Type: cimxml.TypeReference, RefClass: class, Null: true, Qualifiers: []Qualifier{BoolQualifier("Key")}}
	}
	version := StringQualifier("Version", "2.41.0")
	desc := func(s string) Qualifier { return StringQualifier("Description", s) }
	return []*Class{
		{Name: ClassIndicationFilter, Superclass: "CIM_ManagedElement", Qualifiers: []Qualifier{version,
			desc("An IndicationFilter defines the criteria for generating an Indication and what data should be returned in that Indication.")},
			Properties: []Property{key("SystemCreationClassName"), key("SystemName"), key("CreationClassName"), key("Name"),
				p("SourceNamespace", "string"), {Name: "SourceNamespaces", Type: "string", Array: true, Null: true},
				p("Query", "string", BoolQualifier("Required")), p("QueryLanguage", "string", BoolQualifier("Required")),
				p("IndividualSubscriptionSupported", "boolean")}},
		{Name: ClassListenerDestination, Superclass: "CIM_ManagedElement", Qualifiers: []Qualifier{BoolQualifier("Abstract"), version},
			Properties: []Property{key("SystemCreationClassName"), key("SystemName"), key("CreationClassName"), key("Name"),
				p("PersistenceType", "uint16", ValueMap("1", "Other", "2", "Permanent", "3", "Transient")...), p("OtherPersistenceType", "string"),
				p("Destination", "string"),
				p("Protocol", "uint16", ValueMap("1", "Other", "2", "CIM-XML", "3", "SM CLP", "4", "WS-Management", "5", "WSDM", "7", "SNMP")...),
				p("OtherProtocol", "string")}},
		{Name: ClassListenerDestinationCIMXML, Superclass: ClassListenerDestination, Qualifiers: []Qualifier{version,
			desc("CIM_ListenerDestinationCIMXML describes the destination for CIM Export Messages to be delivered via CIM-XML.")}},
		{Name: ClassIndicationSubscription, Qualifiers: []Qualifier{BoolQualifier("Association"), version,
			desc("IndicationSubscription describes a flow of Indications.")},
			Properties: []Property{ref("Filter", "CIM_ManagedElement"), ref("Handler", ClassListenerDestination),
				p("OnFatalErrorPolicy", "uint16", ValueMap("1", "Other", "2", "Ignore", "3", "Disable", "4", "Remove")...),
				p("OtherOnFatalErrorPolicy", "string"), p("FailureTriggerTimeInterval", "uint64"),
				p("SubscriptionState", "uint16", ValueMap("0", "Unknown", "1", "Other", "2", "Enabled", "3", "Enabled Degraded", "4", "Disabled")...),
				p("OtherSubscriptionState", "string"), p("TimeOfLastStateChange", "datetime"), p("SubscriptionDuration", "uint64"),
				p("SubscriptionStartTime", "datetime"), p("SubscriptionTimeRemaining", "uint64"),
				p("RepeatNotificationPolicy", "uint16", ValueMap("0", "Unknown", "1", "Other", "2", "None", "3", "Suppress", "4", "Delay")...),
				p("OtherRepeatNotificationPolicy", "string"), p("RepeatNotificationInterval", "uint64"),
				p("RepeatNotificationGap", "uint64"), p("RepeatNotificationCount", "uint16")}},
	}
}

// SubscriptionOptions configures a SubscriptionStore.
type SubscriptionOptions struct {
	// Namespace holds the subscription instances (the interop namespace).
	// Required.
	Namespace string
	// Classes is Namespace's repository; it must hold SubscriptionClasses.
	// Required.
	Classes *Repository
	// SourceNamespace is the namespace whose indications filters select
	// (the default of a filter's SourceNamespace), Source its repository:
	// a filter's query must select from a subclass of CIM_Indication in
	// it. Required.
	SourceNamespace string
	Source          *Repository
	// SystemName is the default SystemName key of filters and
	// destinations (default "localhost").
	SystemName string
	// File, when set, keeps the subscriptions across restarts: written
	// atomically on every change, restored and re-validated by
	// NewSubscriptionStore.
	File string
	// Authorize, when set, is asked before a subscription instance is
	// created or deleted (a destination makes the server post indications
	// to a URL the caller chooses); an error refuses the operation with
	// CIM_ERR_ACCESS_DENIED. When nil every authenticated caller may
	// subscribe.
	Authorize func(ctx context.Context, p Principal) error
	// Now is the clock of SubscriptionStartTime (default time.Now).
	Now func() time.Time
	// Log receives persistence problems; nil discards.
	Log *slog.Logger
}

// SubscriptionStore keeps the subscription instances of one namespace. A
// Provider serves them by delegating the subscription classes (Handles)
// to Instances, GetInstance, CreateInstance and DeleteInstance. It is safe
// for concurrent use.
type SubscriptionStore struct {
	o   SubscriptionOptions
	log *slog.Logger
	mu  sync.Mutex // serialises changes and their persistence
	mem *MemProvider
}

var _ InstanceWriter = (*SubscriptionStore)(nil)

// NewSubscriptionStore returns a store with the subscriptions of o.File,
// if any.
func NewSubscriptionStore(o SubscriptionOptions) (*SubscriptionStore, error) {
	if o.Namespace == "" || o.Classes == nil || o.SourceNamespace == "" || o.Source == nil {
		return nil, errors.New("wbem: SubscriptionOptions.Namespace, Classes, SourceNamespace and Source are required")
	}
	for _, c := range []string{ClassIndicationFilter, ClassListenerDestinationCIMXML, ClassIndicationSubscription} {
		if _, ok := o.Classes.Class(c); !ok {
			return nil, fmt.Errorf("wbem: the repository of %s lacks %s", o.Namespace, c)
		}
	}
	if o.SystemName == "" {
		o.SystemName = "localhost"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &SubscriptionStore{o: o, log: o.Log}
	s.reset()
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// reset empties the store (in memory only).
func (s *SubscriptionStore) reset() {
	s.mem = NewMemProvider()
	s.mem.AddNamespace(s.o.Namespace, s.o.Classes)
}

// Handles reports whether the store serves class in namespace ns.
func (s *SubscriptionStore) Handles(ns, class string) bool {
	return strings.EqualFold(ns, s.o.Namespace) && IsSubscriptionClass(class)
}

// Instances yields the store's instances of exactly className.
func (s *SubscriptionStore) Instances(ctx context.Context, ns, className string) iter.Seq2[*Instance, error] {
	return s.mem.Instances(ctx, ns, className)
}

// GetInstance returns the instance at path, or an error wrapping
// ErrNotFound.
func (s *SubscriptionStore) GetInstance(ctx context.Context, path *InstancePath) (*Instance, error) {
	return s.mem.GetInstance(ctx, path)
}

// CreateInstance implements InstanceWriter for the subscription classes:
// it fills the defaults pywbem leaves out (keys, QueryLanguage WQL,
// SourceNamespace, Protocol CIM-XML, SubscriptionState Enabled, times),
// checks the filter's query, the destination's URL and that a
// subscription's filter and handler exist, and persists the change.
func (s *SubscriptionStore) CreateInstance(ctx context.Context, ns string, in *Instance) (*InstancePath, error) {
	if !s.Handles(ns, in.ClassName) {
		return nil, Errorf(StatusNotSupported, "instances of %s cannot be created", in.ClassName)
	}
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := &Instance{ClassName: in.ClassName, Properties: append([]Property(nil), in.Properties...)}
	c, ok := s.o.Classes.Class(cp.ClassName)
	if !ok || HasQualifier(c.Qualifiers, "Abstract") {
		return nil, Errorf(StatusInvalidClass, "class %s cannot be instantiated", in.ClassName)
	}
	cp.ClassName = c.Name
	setDefault := func(name, v string) {
		if pr := cp.Property(name); pr == nil || (pr.Null && !pr.Array) {
			cp.Properties = dropNamed(cp.Properties, name)
			cp.Properties = append(cp.Properties, Property{Name: name, Value: v})
		}
	}
	now := CIMDatetime(s.o.Now())
	switch strings.ToLower(c.Name) {
	case "cim_indicationfilter":
		setDefault("SystemCreationClassName", "CIM_ComputerSystem")
		setDefault("SystemName", s.o.SystemName)
		setDefault("CreationClassName", c.Name)
		setDefault("Name", "mgmtd:filter:"+randomID())
		setDefault("QueryLanguage", "WQL")
		setDefault("SourceNamespace", s.o.SourceNamespace)
		q := cp.Property("Query")
		if q == nil || q.Null {
			return nil, Errorf(StatusInvalidParameter, "Query is required")
		}
		if _, err := s.parseFilter(cp.Property("QueryLanguage").Value, q.Value); err != nil {
			return nil, err
		}
	case "cim_listenerdestinationcimxml":
		setDefault("SystemCreationClassName", "CIM_ComputerSystem")
		setDefault("SystemName", s.o.SystemName)
		setDefault("CreationClassName", c.Name)
		setDefault("Name", "mgmtd:destination:"+randomID())
		setDefault("Protocol", "2")
		setDefault("PersistenceType", "2")
		d := cp.Property("Destination")
		if d == nil || d.Null {
			return nil, Errorf(StatusInvalidParameter, "Destination is required")
		}
		if _, err := listenerURL(d.Value); err != nil {
			return nil, Errorf(StatusInvalidParameter, "Destination: %v", err)
		}
	case "cim_indicationsubscription":
		for _, r := range []string{"Filter", "Handler"} {
			pr := cp.Property(r)
			if pr == nil || pr.Null || pr.Ref == nil {
				return nil, Errorf(StatusInvalidParameter, "%s is required", r)
			}
			rp := *pr.Ref
			rp.Host = ""
			if rp.Namespace == "" {
				rp.Namespace = s.o.Namespace
			}
			np, err := s.o.Classes.NormalizePath(s.o.Namespace, &rp)
			if err != nil {
				return nil, Errorf(StatusInvalidParameter, "%s: %v", r, err)
			}
			if _, err := s.mem.GetInstance(ctx, np); err != nil {
				return nil, Errorf(StatusInvalidParameter, "%s %s does not exist", r, WBEMURI(np))
			}
			pr.Ref = np
		}
		setDefault("SubscriptionState", "2")
		setDefault("OnFatalErrorPolicy", "2")
		setDefault("SubscriptionStartTime", now)
		setDefault("TimeOfLastStateChange", now)
	}
	path, err := s.mem.Add(s.o.Namespace, cp)
	if err != nil {
		return nil, err
	}
	if err := s.save(ctx); err != nil {
		_ = s.mem.Remove(path)
		return nil, Errorf(StatusFailed, "saving subscriptions: %v", err)
	}
	return path, nil
}

// DeleteInstance implements InstanceWriter for the subscription classes.
// A filter or destination still used by a subscription is refused
// (CIM_ERR_FAILED).
func (s *SubscriptionStore) DeleteInstance(ctx context.Context, path *InstancePath) error {
	if !s.Handles(path.Namespace, path.ClassName) {
		return Errorf(StatusNotSupported, "instances of %s cannot be deleted", path.ClassName)
	}
	if err := s.authorize(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.mem.GetInstance(ctx, path)
	if err != nil {
		return err
	}
	if !strings.EqualFold(path.ClassName, ClassIndicationSubscription) {
		for ref, err := range s.mem.References(ctx, s.o.Namespace, path) {
			if err != nil {
				return err
			}
			if strings.EqualFold(ref.ClassName, ClassIndicationSubscription) {
				return Errorf(StatusFailed, "%s is used by a subscription", WBEMURI(path))
			}
		}
	}
	if err := s.mem.Remove(path); err != nil {
		return err
	}
	if err := s.save(ctx); err != nil {
		if _, aerr := s.mem.Add(s.o.Namespace, in); aerr != nil {
			s.log.Error("wbem: restoring subscription instance", "err", aerr)
		}
		return Errorf(StatusFailed, "saving subscriptions: %v", err)
	}
	return nil
}

func (s *SubscriptionStore) authorize(ctx context.Context) error {
	if s.o.Authorize == nil {
		return nil
	}
	pr, _ := PrincipalFrom(ctx)
	if err := s.o.Authorize(ctx, pr); err != nil {
		return Errorf(StatusAccessDenied, "%s may not manage indication subscriptions: %v", pr.Name, err)
	}
	return nil
}

// parseFilter checks a filter query: WQL or DMTF:CQL selecting from an
// indication class of the source namespace.
func (s *SubscriptionStore) parseFilter(lang, text string) (*Filter, error) {
	return ParseFilter(s.o.Source, lang, text)
}

func dropNamed(ps []Property, name string) []Property {
	out := ps[:0]
	for _, p := range ps {
		if !strings.EqualFold(p.Name, name) {
			out = append(out, p)
		}
	}
	return out
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func listenerURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http or https URL", s)
	}
	return u, nil
}
