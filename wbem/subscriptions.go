package wbem

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"log/slog"
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
	// Policy decides who manages subscriptions and whose subscriptions
	// stay. Required: there is no default that lets every caller make
	// the server post to URLs of its choosing.
	Policy SubscriptionPolicy
	// Destinations limit the listener destination URLs (and, given to
	// DeliveryOptions, the addresses dialled). The zero value allows
	// none.
	Destinations DestinationRules
	// MaxPerOwner bounds the instances of each subscription class one
	// owner may have (default 16); MaxTotal those of each class in all
	// (default 256). CIM_ERR_SERVER_LIMITS_EXCEEDED beyond.
	MaxPerOwner, MaxTotal int
	// Now is the clock of SubscriptionStartTime (default time.Now).
	Now func() time.Time
	// Log receives persistence problems; nil discards.
	Log *slog.Logger
}

// SubscriptionPolicy is the store's permission and ownership hook. Every
// instance belongs to the principal that created it (Principal.Owner),
// kept with a credential record the policy makes, so that the owner's
// right to it can be checked again after the request: at start and
// before every delivery.
type SubscriptionPolicy interface {
	// Manage authorizes p to create a subscription instance (owner "")
	// or to delete one of owner's (which may be p's own or another
	// caller's: a policy lets only administrators delete others'). An
	// error refuses with CIM_ERR_ACCESS_DENIED.
	Manage(ctx context.Context, p Principal, owner string) error
	// Credential returns the record kept (and persisted) with what p
	// creates; it must hold no secret.
	Credential(p Principal) string
	// Valid reports whether owner, with its kept credential, may still
	// have subscriptions (its credential is not revoked or expired, it
	// still holds the grant). An error removes every instance of owner.
	Valid(ctx context.Context, owner, credential string) error
	// Removed is told of the instances removed because their owner was
	// no longer valid (or unknown, in an older file), and why.
	Removed(ctx context.Context, owner string, instances []string, reason error)
}

// owned is who created an instance.
type owned struct {
	owner, credential string
}

// SubscriptionStore keeps the subscription instances of one namespace. A
// Provider serves them by delegating the subscription classes (Handles)
// to Instances, GetInstance, CreateInstance and DeleteInstance. It is safe
// for concurrent use.
type SubscriptionStore struct {
	o      SubscriptionOptions
	log    *slog.Logger
	mu     sync.Mutex // serialises changes and their persistence
	mem    *MemProvider
	owners map[string]owned // by CanonicalPath
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
	if o.Policy == nil {
		return nil, errors.New("wbem: SubscriptionOptions.Policy is required")
	}
	if o.MaxPerOwner <= 0 {
		o.MaxPerOwner = 16
	}
	if o.MaxTotal <= 0 {
		o.MaxTotal = 256
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
	s.owners = map[string]owned{}
}

// Handles reports whether the store serves class in namespace ns.
func (s *SubscriptionStore) Handles(ns, class string) bool {
	return strings.EqualFold(ns, s.o.Namespace) && IsSubscriptionClass(class)
}

// Instances yields the store's instances of exactly className, after
// removing those of owners the policy no longer accepts.
func (s *SubscriptionStore) Instances(ctx context.Context, ns, className string) iter.Seq2[*Instance, error] {
	s.mu.Lock()
	s.prune(ctx)
	s.mu.Unlock()
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
	pr, _ := PrincipalFrom(ctx)
	if err := s.authorize(ctx, pr, ""); err != nil {
		return nil, err
	}
	owner := pr.Owner()
	if owner == "" {
		return nil, Errorf(StatusAccessDenied, "indication subscriptions need an authenticated caller")
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
		if err := s.o.Destinations.CheckURL(d.Value); err != nil {
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
			if s.owners[CanonicalPath(np, s.o.Namespace)].owner != owner {
				return nil, Errorf(StatusAccessDenied, "%s %s belongs to another caller", r, WBEMURI(np))
			}
			pr.Ref = np
		}
		setDefault("SubscriptionState", "2")
		setDefault("OnFatalErrorPolicy", "2")
		setDefault("SubscriptionStartTime", now)
		setDefault("TimeOfLastStateChange", now)
	}
	if err := s.withinLimits(ctx, c.Name, owner); err != nil {
		return nil, err
	}
	path, err := s.mem.Add(s.o.Namespace, cp)
	if err != nil {
		return nil, err
	}
	key := CanonicalPath(path, s.o.Namespace)
	s.owners[key] = owned{owner: owner, credential: s.o.Policy.Credential(pr)}
	if err := s.save(ctx); err != nil {
		_ = s.mem.Remove(path)
		delete(s.owners, key)
		return nil, Errorf(StatusFailed, "saving subscriptions: %v", err)
	}
	return path, nil
}

// withinLimits checks the instance counts of class before owner creates
// one; the caller holds mu.
func (s *SubscriptionStore) withinLimits(ctx context.Context, class, owner string) error {
	total, mine := 0, 0
	for in, err := range s.mem.Instances(ctx, s.o.Namespace, class) {
		if err != nil {
			return err
		}
		total++
		if p, err := s.o.Classes.PathOf(s.o.Namespace, in); err == nil && s.owners[CanonicalPath(p, s.o.Namespace)].owner == owner {
			mine++
		}
	}
	if mine >= s.o.MaxPerOwner {
		return Errorf(StatusServerLimitsExceeded, "you have %d instances of %s, the most one caller may have", mine, class)
	}
	if total >= s.o.MaxTotal {
		return Errorf(StatusServerLimitsExceeded, "there are %d instances of %s, the most the server keeps", total, class)
	}
	return nil
}

// DeleteInstance implements InstanceWriter for the subscription classes.
// A filter or destination still used by a subscription is refused
// (CIM_ERR_FAILED).
func (s *SubscriptionStore) DeleteInstance(ctx context.Context, path *InstancePath) error {
	if !s.Handles(path.Namespace, path.ClassName) {
		return Errorf(StatusNotSupported, "instances of %s cannot be deleted", path.ClassName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.mem.GetInstance(ctx, path)
	if err != nil {
		return err
	}
	key := CanonicalPath(path, s.o.Namespace)
	pr, _ := PrincipalFrom(ctx)
	if err := s.authorize(ctx, pr, s.owners[key].owner); err != nil {
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
	was := s.owners[key]
	delete(s.owners, key)
	if err := s.save(ctx); err != nil {
		if _, aerr := s.mem.Add(s.o.Namespace, in); aerr != nil {
			s.log.Error("wbem: restoring subscription instance", "err", aerr)
		}
		s.owners[key] = was
		return Errorf(StatusFailed, "saving subscriptions: %v", err)
	}
	return nil
}

// authorize asks the policy whether p may create (owner "") or delete
// an instance of owner.
func (s *SubscriptionStore) authorize(ctx context.Context, p Principal, owner string) error {
	if err := s.o.Policy.Manage(ctx, p, owner); err != nil {
		return Errorf(StatusAccessDenied, "%s may not manage indication subscriptions: %v", p.Name, err)
	}
	return nil
}

// prune removes the instances of every owner the policy no longer
// accepts (and the subscriptions that use them), saves, and tells the
// policy. The caller holds mu.
func (s *SubscriptionStore) prune(ctx context.Context) {
	bad := map[string]error{}
	checked := map[string]bool{}
	for _, o := range s.owners {
		if checked[o.owner] {
			continue
		}
		checked[o.owner] = true
		if o.owner == "" {
			bad[o.owner] = errors.New("the instance has no owner")
		} else if err := s.o.Policy.Valid(ctx, o.owner, o.credential); err != nil {
			bad[o.owner] = err
		}
	}
	for _, in := range s.all(ctx) {
		p, err := s.o.Classes.PathOf(s.o.Namespace, in)
		if err != nil {
			continue
		}
		if _, ok := s.owners[CanonicalPath(p, s.o.Namespace)]; !ok {
			// Restored from a file without owners.
			bad[""] = errors.New("the instance has no owner")
		}
	}
	if len(bad) == 0 {
		return
	}
	removed := map[string][]string{}
	// Subscriptions first: a filter or destination in use cannot go.
	for _, class := range []string{ClassIndicationSubscription, ClassIndicationFilter, ClassListenerDestinationCIMXML} {
		var drop []*InstancePath
		for in, err := range s.mem.Instances(ctx, s.o.Namespace, class) {
			if err != nil {
				break
			}
			p, err := s.o.Classes.PathOf(s.o.Namespace, in)
			if err != nil {
				continue
			}
			owner := s.owners[CanonicalPath(p, s.o.Namespace)].owner
			_, gone := bad[owner]
			if !gone && class == ClassIndicationSubscription {
				// A subscription using a removed filter or destination.
				for _, r := range []string{"Filter", "Handler"} {
					if rp := in.Property(r); rp != nil && rp.Ref != nil {
						if _, g := bad[s.owners[CanonicalPath(rp.Ref, s.o.Namespace)].owner]; g {
							gone = true
						}
					}
				}
			}
			if gone {
				drop = append(drop, p)
				removed[owner] = append(removed[owner], WBEMURI(p))
			}
		}
		for _, p := range drop {
			_ = s.mem.Remove(p)
			delete(s.owners, CanonicalPath(p, s.o.Namespace))
		}
	}
	if err := s.save(ctx); err != nil {
		s.log.Error("wbem: saving subscriptions after removing those of invalid owners", "err", err)
	}
	for owner, paths := range removed {
		reason := bad[owner]
		if reason == nil {
			reason = errors.New("it uses a filter or destination that was removed")
		}
		s.log.Warn("wbem: indication subscriptions removed", "owner", owner, "instances", len(paths), "err", reason)
		s.o.Policy.Removed(ctx, owner, paths, reason)
	}
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
