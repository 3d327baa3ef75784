package cim_test

import (
	"fmt"
	"testing"

	"mgmtd/cim"
	"mgmtd/model"
	"mgmtd/wbem"
	"mgmtd/wbem/wbemtest"
)

const bigN = 10000

// bigStore is a synthetic cluster of 3 nodes and bigN primitive
// resources, each running on one node.
func bigStore(tb testing.TB) *model.Store {
	st := model.NewStore(model.StoreOptions{Cluster: "big"})
	part := &model.PacemakerPart{Cluster: model.Cluster{Name: "big", Quorate: true, DC: "n1", StonithEnabled: true}}
	for i := 1; i <= 3; i++ {
		part.Nodes = append(part.Nodes, model.Node{Name: fmt.Sprintf("n%d", i), ID: fmt.Sprint(i), Type: model.NodeMember, State: model.NodeOnline, Online: true})
	}
	for i := range bigN {
		id := fmt.Sprintf("rsc-%05d", i)
		part.Resources = append(part.Resources, model.Resource{ID: id, Kind: model.KindPrimitive, Agent: "ocf:heartbeat:IPaddr2", Managed: true})
		part.Instances = append(part.Instances, model.Instance{Resource: id, Primitive: id, Top: id, Agent: "ocf:heartbeat:IPaddr2",
			Node: fmt.Sprintf("n%d", i%3+1), Role: model.RoleStarted, Active: true, Managed: true, Host: fmt.Sprintf("n%d", i%3+1)})
	}
	st.Report(model.Report{Source: "pacemaker", Pacemaker: part})
	if n := len(st.Snapshot().Resources); n != bigN {
		tb.Fatalf("%d resources", n)
	}
	return st
}

// bigBench serves the synthetic snapshot's MGMTD_ClusterResource
// instances.
func bigBench(b *testing.B) wbemtest.Bench {
	p, err := cim.NewModelProvider(cim.ModelOptions{Store: bigStore(b), SystemName: "bench", Subscriptions: cim.OpenPolicy{}})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := wbem.NewServer(wbem.Config{Provider: p, Authenticate: basicStub})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	return wbemtest.Bench{Handler: srv, Namespace: mns, Class: "MGMTD_ClusterResource", N: bigN, User: mUser, Pass: mPass}
}

// BenchmarkModelEnumerate10k: one EnumerateInstances of the 10,000
// MGMTD_ClusterResource instances of a synthetic snapshot per iteration,
// built from the snapshot on the fly and encoded to a discarding writer.
func BenchmarkModelEnumerate10k(b *testing.B) { bigBench(b).Enumerate(b) }

// BenchmarkModelPull10k: OpenEnumerateInstances + PullInstancesWithPath
// in slices of 500 over the 10,000 resources per iteration.
func BenchmarkModelPull10k(b *testing.B) { bigBench(b).Pull(b, false) }

// BenchmarkModelPull10kLiveHeap samples the live heap (after a GC) after
// every pull response: the growth stays at about one slice because the
// open enumeration is a suspended iterator over the snapshot.
func BenchmarkModelPull10kLiveHeap(b *testing.B) { bigBench(b).Pull(b, true) }

// TestBigSnapshotCounts checks the synthetic snapshot the benchmarks use:
// all 10,000 resources enumerate and pull completely.
func TestBigSnapshotCounts(t *testing.T) {
	p, err := cim.NewModelProvider(cim.ModelOptions{Store: bigStore(t), Subscriptions: cim.OpenPolicy{}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range p.Instances(t.Context(), mns, "MGMTD_ClusterResource") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != bigN {
		t.Errorf("%d instances", n)
	}
}

// BenchmarkModelAssociators10k: Associators of one resource, and
// AssociatorNames of a node running a third of the 10,000 resources.
func BenchmarkModelAssociators10k(b *testing.B) {
	x := bigBench(b)
	rsc := wbemtest.InstanceName("MGMTD_ClusterResource", "SystemCreationClassName", "MGMTD_Cluster", "SystemName", "big", "CreationClassName", "MGMTD_ClusterResource", "Name", "rsc-04711")
	node := wbemtest.InstanceName("MGMTD_ComputerSystem", "CreationClassName", "MGMTD_ComputerSystem", "Name", "n2")
	for _, tc := range []struct{ name, method, obj string }{
		{"resource", "Associators", rsc},
		{"node", "AssociatorNames", node},
	} {
		b.Run(tc.name, func(b *testing.B) { x.Op(b, tc.method, wbemtest.Param("ObjectName", tc.obj)) })
	}
}
