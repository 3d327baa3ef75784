package cim

import (
	"context"
	"testing"

	"mgmtd/demo"
	mdl "mgmtd/model"

	"mgmtd/wbem"
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
	p, err := NewModelProvider(ModelOptions{Store: st, SystemName: "h", Subscriptions: OpenPolicy{}})
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
							t.Errorf("step %d: %s.%s refers to a missing %s: %v", i, cn, pr.Name, wbem.WBEMURI(pr.Ref), err)
						}
					}
				}
			}
		}
		if total < 80 {
			t.Errorf("step %d: only %d instances", i, total)
		}
	}
}
