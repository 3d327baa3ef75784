package cim

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"mgmtd/demo"
	mdl "mgmtd/model"
)

// TestBuildersMatchSchema enumerates every class of both namespaces over
// every step of the demo story: each builder sets only declared
// properties, every instance has its keys, and every reference of an
// association resolves to an instance.
func TestBuildersMatchSchema(t *testing.T) {
	steps, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	st := mdl.NewStore(mdl.StoreOptions{Cluster: "demo"})
	pl := demo.NewPlayer(steps, st, 1)
	p, err := NewModelProvider(ModelOptions{Store: st, SystemName: "h"})
	if err != nil {
		t.Fatal(err)
	}
	p.unknownProp = func(class, name string) { t.Errorf("builder of %s sets undeclared property %q", class, name) }
	ctx := context.Background()
	for i := range steps {
		pl.Show(i)
		total := 0
		for _, ns := range p.Namespaces() {
			repo := p.Classes(ns)
			for _, cn := range repo.Names() {
				for in, err := range p.Instances(ctx, ns, cn) {
					if err != nil {
						t.Fatal(err)
					}
					total++
					if _, err := repo.PathOf(ns, in); err != nil {
						t.Errorf("step %d %s: %v", i, cn, err)
					}
					for _, pr := range in.Properties {
						if pr.Ref == nil {
							continue
						}
						if _, err := p.GetInstance(ctx, pr.Ref); err != nil {
							t.Errorf("step %d: %s.%s refers to a missing %s: %v", i, cn, pr.Name, WBEMURI(pr.Ref), err)
						}
					}
				}
			}
		}
		if total < 100 {
			t.Errorf("step %d: only %d instances", i, total)
		}
	}
}

type fixedSnapshot struct{ s *mdl.Snapshot }

func (f fixedSnapshot) Snapshot() *mdl.Snapshot { return f.s }

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
	p, err := NewModelProvider(ModelOptions{Store: fixedSnapshot{&mdl.Snapshot{}}, SystemName: "h"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p.subs = NewMemProvider()
		p.subs.AddNamespace(InteropNamespace, p.interop)
		if err := p.restoreSubscriptions(b); err != nil {
			return
		}
		for _, in := range p.subscriptionInstances(context.Background()) {
			if !isSubscriptionClass(in.ClassName) {
				t.Fatalf("restored a %s", in.ClassName)
			}
			if _, err := p.interop.PathOf(InteropNamespace, in); err != nil {
				t.Fatalf("restored an instance without its keys: %v", err)
			}
			if err := p.validSubscription(context.Background(), in); err != nil {
				t.Fatalf("restored an invalid instance: %v", err)
			}
		}
	})
}
