package wbem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"mgmtd/wbem/cimxml"
)

// The subscription file: the JSON form of the subscription instances,
// class and property values as text; references as namespace, class and
// string keys (the subscription classes have no other kind of key).

type persisted struct {
	Version   int             `json:"version"`
	Instances []savedInstance `json:"instances"`
}

type savedInstance struct {
	Class      string      `json:"class"`
	Properties []savedProp `json:"properties"`
	// Owner and Credential: who created the instance (a file of an older
	// version has none: its instances are removed at start).
	Owner      string `json:"owner,omitempty"`
	Credential string `json:"credential,omitempty"`
}

type savedProp struct {
	Name   string    `json:"name"`
	Value  *string   `json:"value,omitempty"`
	Values []string  `json:"values,omitempty"`
	Ref    *savedRef `json:"ref,omitempty"`
}

type savedRef struct {
	Namespace string            `json:"namespace"`
	Class     string            `json:"class"`
	Keys      map[string]string `json:"keys"`
}

func saveInstance(in *Instance) savedInstance {
	out := savedInstance{Class: in.ClassName}
	for _, p := range in.Properties {
		if p.Null {
			continue
		}
		sp := savedProp{Name: p.Name}
		switch {
		case p.Ref != nil:
			r := &savedRef{Namespace: p.Ref.Namespace, Class: p.Ref.ClassName, Keys: map[string]string{}}
			for _, k := range p.Ref.Keys {
				r.Keys[k.Name] = k.Value
			}
			sp.Ref = r
		case p.Array:
			sp.Values = append([]string{}, p.Values...)
		default:
			v := p.Value
			sp.Value = &v
		}
		out.Properties = append(out.Properties, sp)
	}
	return out
}

func (s savedInstance) instance() *Instance {
	in := &Instance{ClassName: s.Class}
	for _, sp := range s.Properties {
		p := Property{Name: sp.Name}
		switch {
		case sp.Ref != nil:
			r := &InstancePath{Namespace: sp.Ref.Namespace, ClassName: sp.Ref.Class}
			for k, v := range sp.Ref.Keys {
				r.Keys = append(r.Keys, KeyBinding{Name: k, Type: cimxml.TypeString, ValueType: "string", Value: v})
			}
			p.Type, p.Ref = cimxml.TypeReference, r
		case sp.Values != nil:
			p.Array, p.Values = true, sp.Values
		case sp.Value != nil:
			p.Value = *sp.Value
		default:
			p.Null = true
		}
		in.Properties = append(in.Properties, p)
	}
	return in
}

// all returns the subscription instances: filters, destinations,
// subscriptions.
func (s *SubscriptionStore) all(ctx context.Context) []*Instance {
	var out []*Instance
	for _, c := range []string{ClassIndicationFilter, ClassListenerDestinationCIMXML, ClassIndicationSubscription} {
		for in, err := range s.mem.Instances(ctx, s.o.Namespace, c) {
			if err == nil {
				out = append(out, in)
			}
		}
	}
	return out
}

// save writes the file (when configured) through a temporary file and a
// rename.
func (s *SubscriptionStore) save(ctx context.Context) error {
	if s.o.File == "" {
		return nil
	}
	st := persisted{Version: 1, Instances: []savedInstance{}}
	for _, in := range s.all(ctx) {
		si := saveInstance(in)
		if p, err := s.o.Classes.PathOf(s.o.Namespace, in); err == nil {
			o := s.owners[CanonicalPath(p, s.o.Namespace)]
			si.Owner, si.Credential = o.owner, o.credential
		}
		st.Instances = append(st.Instances, si)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode subscriptions: %w", err)
	}
	tmp := s.o.File + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write subscriptions: %w", err)
	}
	if err := os.Rename(tmp, s.o.File); err != nil {
		return fmt.Errorf("write subscriptions: %w", err)
	}
	return nil
}

// load restores the persisted subscriptions; instances that no longer
// validate (or whose filter or destination is gone) are skipped with a
// warning.
func (s *SubscriptionStore) load() error {
	if s.o.File == "" {
		return nil
	}
	b, err := os.ReadFile(s.o.File)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read subscriptions: %w", err)
	}
	return s.restore(b)
}

func (s *SubscriptionStore) restore(b []byte) error {
	var st persisted
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("read subscriptions %s: %w", filepath.Base(s.o.File), err)
	}
	ctx := context.Background()
	for _, si := range st.Instances {
		in := si.instance()
		if !IsSubscriptionClass(in.ClassName) {
			s.log.Warn("wbem: skipping persisted instance of a non-subscription class", "class", in.ClassName)
			continue
		}
		if err := s.valid(ctx, in); err != nil {
			s.log.Warn("wbem: skipping persisted subscription instance", "class", in.ClassName, "err", err)
			continue
		}
		p, err := s.mem.Add(s.o.Namespace, in)
		if err != nil {
			s.log.Warn("wbem: skipping persisted subscription instance", "class", in.ClassName, "err", err)
			continue
		}
		if si.Owner != "" {
			s.owners[CanonicalPath(p, s.o.Namespace)] = owned{owner: si.Owner, credential: si.Credential}
		}
	}
	// Owners whose grant is gone since (or unknown) lose their instances.
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(ctx)
	return nil
}

// valid checks a restored instance as CreateInstance would.
func (s *SubscriptionStore) valid(ctx context.Context, in *Instance) error {
	switch strings.ToLower(in.ClassName) {
	case "cim_indicationfilter":
		q, l := in.Property("Query"), in.Property("QueryLanguage")
		if q == nil || l == nil || q.Null || l.Null {
			return errors.New("filter without query")
		}
		_, err := s.parseFilter(l.Value, q.Value)
		return err
	case "cim_listenerdestinationcimxml":
		d := in.Property("Destination")
		if d == nil || d.Null {
			return errors.New("destination without URL")
		}
		return s.o.Destinations.CheckURL(d.Value)
	case "cim_indicationsubscription":
		for _, r := range []string{"Filter", "Handler"} {
			pr := in.Property(r)
			if pr == nil || pr.Ref == nil {
				return fmt.Errorf("subscription without %s", r)
			}
			np, err := s.o.Classes.NormalizePath(s.o.Namespace, pr.Ref)
			if err != nil {
				return err
			}
			if _, err := s.mem.GetInstance(ctx, np); err != nil {
				return err
			}
			pr.Ref = np
		}
		return nil
	}
	return fmt.Errorf("class %s cannot be restored", in.ClassName)
}
