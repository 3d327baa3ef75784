package wbem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"mgmtd/internal/testutil"
)

// subscriptionRepos returns an interop repository with the subscription
// classes and a source repository with two indication classes and one
// that is not.
func subscriptionRepos(t testing.TB) (interop, source *Repository) {
	interop = NewRepository()
	must(t, interop.Add(&Class{Name: "CIM_ManagedElement", Qualifiers: []Qualifier{BoolQualifier("Abstract")},
		Properties: []Property{prop("ElementName", "string")}}))
	must(t, interop.Add(SubscriptionClasses()...))
	source = NewRepository()
	must(t, source.Add(
		&Class{Name: "CIM_Indication", Qualifiers: []Qualifier{BoolQualifier("Abstract"), BoolQualifier("Indication")},
			Properties: []Property{prop("IndicationIdentifier", "string"), prop("PerceivedSeverity", "uint16"),
				prop("IndicationFilterName", "string"), prop("SequenceContext", "string"), prop("SequenceNumber", "sint64")}},
		&Class{Name: "CIM_AlertIndication", Superclass: "CIM_Indication", Qualifiers: []Qualifier{BoolQualifier("Indication")},
			Properties: []Property{prop("Message", "string")}},
		&Class{Name: "CIM_ComputerSystem", Properties: []Property{key("Name", "string")}},
	))
	return interop, source
}

var subscriptionNow = time.Date(2026, 11, 1, 10, 0, 5, 0, time.UTC)

// testPolicy: "viewer" may not manage subscriptions, "root" may delete
// anyone's, an owner is valid while its credential is the one it was
// given and it is not revoked.
type testPolicy struct {
	mu      sync.Mutex
	revoked map[string]bool
	removed []string
}

func (p *testPolicy) Manage(_ context.Context, pr Principal, owner string) error {
	switch {
	case pr.Name == "viewer":
		return errors.New("needs the admin role")
	case owner != "" && owner != pr.Owner() && pr.Name != "root":
		return errors.New("the instance is another caller's")
	}
	return nil
}

func (p *testPolicy) Credential(pr Principal) string { return "cred:" + pr.Owner() }

func (p *testPolicy) Valid(_ context.Context, owner, cred string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cred != "cred:"+owner || p.revoked[owner] {
		return errors.New("revoked")
	}
	return nil
}

func (p *testPolicy) Removed(_ context.Context, owner string, paths []string, reason error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removed = append(p.removed, fmt.Sprintf("%s: %d (%v)", owner, len(paths), reason))
}

func (p *testPolicy) revoke(owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.revoked == nil {
		p.revoked = map[string]bool{}
	}
	p.revoked[owner] = true
}

// as is a context of the caller name (owner "id:name").
func as(name string) context.Context {
	return context.WithValue(context.Background(), principalKey{}, Principal{ID: "id:" + name, Name: name})
}

var testDestinations = func() DestinationRules {
	r, err := ParseDestinationRules([]string{"http", "https"}, []string{"127.0.0.1", "h"})
	if err != nil {
		panic(err)
	}
	return r
}()

func newStore(t testing.TB, mod func(*SubscriptionOptions)) *SubscriptionStore {
	t.Helper()
	interop, source := subscriptionRepos(t)
	o := SubscriptionOptions{Namespace: "interop", Classes: interop, SourceNamespace: model, Source: source,
		SystemName: "testhost", Now: func() time.Time { return subscriptionNow },
		Policy: &testPolicy{}, Destinations: testDestinations}
	if mod != nil {
		mod(&o)
	}
	s, err := NewSubscriptionStore(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sprop(name, v string) Property { return Property{Name: name, Type: "string", Value: v} }

// subscriptionRef names a filter or destination as a client does: the
// keys with the defaults the store fills in, no namespace.
func subscriptionRef(class, name string) *InstancePath {
	p := &InstancePath{ClassName: class}
	for _, k := range [][2]string{{"SystemCreationClassName", "CIM_ComputerSystem"}, {"SystemName", "testhost"}, {"CreationClassName", class}, {"Name", name}} {
		p.Keys = append(p.Keys, KeyBinding{Name: k[0], ValueType: "string", Value: k[1]})
	}
	return p
}

// subscribeTo creates a filter, a destination and a subscription as
// pywbem's subscription manager does.
func subscribeTo(t testing.TB, s *SubscriptionStore, name, query, dest string) {
	t.Helper()
	subscribeAs(t, as("admin"), s, name, query, dest)
}

func subscribeAs(t testing.TB, ctx context.Context, s *SubscriptionStore, name, query, dest string) {
	t.Helper()
	for _, in := range []*Instance{
		{ClassName: ClassIndicationFilter, Properties: []Property{sprop("Name", name), sprop("Query", query), sprop("QueryLanguage", "WQL"), sprop("SourceNamespace", model)}},
		{ClassName: ClassListenerDestinationCIMXML, Properties: []Property{sprop("Name", name+"-dest"), sprop("Destination", dest)}},
		{ClassName: ClassIndicationSubscription, Properties: []Property{refp("Filter", subscriptionRef(ClassIndicationFilter, name)),
			refp("Handler", subscriptionRef(ClassListenerDestinationCIMXML, name+"-dest"))}},
	} {
		if _, err := s.CreateInstance(ctx, "interop", in); err != nil {
			t.Fatalf("create %s: %v", in.ClassName, err)
		}
	}
}

func count(s *SubscriptionStore, class string) int {
	n := 0
	for range s.Instances(context.Background(), "interop", class) {
		n++
	}
	return n
}

// TestSubscriptionFile: the file format is pinned (and seeds
// FuzzSubscriptionFile); the subscriptions survive a restart; a filter in
// use cannot be deleted.
func TestSubscriptionFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "subscriptions.json")
	s := newStore(t, func(o *SubscriptionOptions) { o.File = file })
	subscribeTo(t, s, "f1", "SELECT * FROM CIM_AlertIndication", "http://127.0.0.1:9/listener")
	saved, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "subscriptions", "created.json"), saved)

	s2 := newStore(t, func(o *SubscriptionOptions) { o.File = file })
	for _, c := range []string{ClassIndicationFilter, ClassListenerDestinationCIMXML, ClassIndicationSubscription} {
		if n := count(s2, c); n != 1 {
			t.Errorf("%s after restart: %d instances", c, n)
		}
	}
	subs := s2.Subscriptions(context.Background())
	if len(subs) != 1 || subs[0].FilterName != "f1" || subs[0].Destination != "http://127.0.0.1:9/listener" {
		t.Fatalf("subscriptions after restart: %+v", subs)
	}
	ctx := as("admin")
	filter := subscriptionRef(ClassIndicationFilter, "f1")
	filter.Namespace = "interop"
	if err := s2.DeleteInstance(ctx, filter); statusOf(err).Status != StatusFailed {
		t.Errorf("delete of a filter in use: %v", err)
	}
	sub := &InstancePath{Namespace: "interop", ClassName: ClassIndicationSubscription}
	for in := range s2.Instances(ctx, "interop", ClassIndicationSubscription) {
		sub.Keys = []KeyBinding{{Name: "Filter", Ref: in.Property("Filter").Ref}, {Name: "Handler", Ref: in.Property("Handler").Ref}}
	}
	for _, p := range []*InstancePath{sub, filter} {
		if err := s2.DeleteInstance(ctx, p); err != nil {
			t.Fatalf("delete %s: %v", p.ClassName, err)
		}
	}
	s3 := newStore(t, func(o *SubscriptionOptions) { o.File = file })
	if count(s3, ClassIndicationFilter) != 0 || count(s3, ClassIndicationSubscription) != 0 || count(s3, ClassListenerDestinationCIMXML) != 1 {
		t.Errorf("after deletes and restart: %d filters, %d subscriptions, %d destinations", count(s3, ClassIndicationFilter),
			count(s3, ClassIndicationSubscription), count(s3, ClassListenerDestinationCIMXML))
	}
}

// TestSubscriptionRefusals: what CreateInstance and DeleteInstance refuse,
// with the CIM status a client sees.
func TestSubscriptionRefusals(t *testing.T) {
	s := newStore(t, nil)
	subscribeTo(t, s, "f1", "SELECT * FROM CIM_Indication", "http://127.0.0.1:9/")
	ctx := as("admin")
	for _, tc := range []struct {
		name string
		ns   string
		in   *Instance
		want Status
	}{
		{"not an indication class", "interop", &Instance{ClassName: ClassIndicationFilter, Properties: []Property{sprop("Name", "x"), sprop("Query", "SELECT * FROM CIM_ComputerSystem")}}, StatusInvalidQuery},
		{"bad query", "interop", &Instance{ClassName: ClassIndicationFilter, Properties: []Property{sprop("Name", "x"), sprop("Query", "SELEKT")}}, StatusInvalidQuery},
		{"query language", "interop", &Instance{ClassName: ClassIndicationFilter, Properties: []Property{sprop("Name", "x"), sprop("Query", "SELECT * FROM CIM_Indication"), sprop("QueryLanguage", "XPath")}}, StatusQueryLanguageNotSupported},
		{"no query", "interop", &Instance{ClassName: ClassIndicationFilter, Properties: []Property{sprop("Name", "x")}}, StatusInvalidParameter},
		{"not a URL", "interop", &Instance{ClassName: ClassListenerDestinationCIMXML, Properties: []Property{sprop("Name", "x"), sprop("Destination", "file:///etc/passwd")}}, StatusInvalidParameter},
		{"unknown filter", "interop", &Instance{ClassName: ClassIndicationSubscription, Properties: []Property{refp("Filter", subscriptionRef(ClassIndicationFilter, "nope")),
			refp("Handler", subscriptionRef(ClassListenerDestinationCIMXML, "f1-dest"))}}, StatusInvalidParameter},
		{"duplicate", "interop", &Instance{ClassName: ClassIndicationFilter, Properties: []Property{sprop("Name", "f1"), sprop("Query", "SELECT * FROM CIM_Indication")}}, StatusAlreadyExists},
		{"abstract class", "interop", &Instance{ClassName: ClassListenerDestination, Properties: []Property{sprop("Name", "x"), sprop("Destination", "http://h/")}}, StatusInvalidClass},
		{"other namespace", model, &Instance{ClassName: ClassIndicationFilter, Properties: []Property{sprop("Name", "x"), sprop("Query", "SELECT * FROM CIM_Indication")}}, StatusNotSupported},
		{"other class", "interop", &Instance{ClassName: "CIM_ManagedElement"}, StatusNotSupported},
	} {
		if _, err := s.CreateInstance(ctx, tc.ns, tc.in); statusOf(err).Status != tc.want {
			t.Errorf("%s: %v, want status %d", tc.name, err, tc.want)
		}
	}
	if err := s.DeleteInstance(ctx, &InstancePath{Namespace: model, ClassName: ClassIndicationFilter}); statusOf(err).Status != StatusNotSupported {
		t.Errorf("delete in another namespace: %v", err)
	}
	if n := count(s, ClassIndicationFilter); n != 1 {
		t.Errorf("%d filters after the refusals", n)
	}
}

// FuzzSubscriptionFile: whatever the persisted subscription file holds,
// restoring it fails with an error or loads only valid instances of the
// subscription classes, and never panics.
func FuzzSubscriptionFile(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/subscriptions/*.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"instances":[{"class":"CIM_IndicationFilter","properties":[{"name":"Query","value":"x"}]}]}`))
	s := newStore(f, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		s.reset()
		if err := s.restore(b); err != nil {
			return
		}
		for _, in := range s.all(context.Background()) {
			if !IsSubscriptionClass(in.ClassName) {
				t.Fatalf("restored a %s", in.ClassName)
			}
			if _, err := s.o.Classes.PathOf("interop", in); err != nil {
				t.Fatalf("restored an instance without its keys: %v", err)
			}
			if err := s.valid(context.Background(), in); err != nil {
				t.Fatalf("restored an invalid instance: %v", err)
			}
		}
	})
}
