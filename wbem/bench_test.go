package wbem

import (
	"fmt"
	"testing"

	"mgmtd/wbem/wbemtest"
)

// resources adds n resource instances shaped like the model's.
func resources(b testing.TB, m *MemProvider, n int) {
	for i := range n {
		addInst(b, m, model, "PCMK_ClusterResource", str("SystemCreationClassName", "PCMK_Cluster"), str("SystemName", "mycluster"),
			str("CreationClassName", "PCMK_ClusterResource"), str("Name", fmt.Sprintf("rsc-%05d", i)),
			str("ElementName", fmt.Sprintf("Resource %d", i)), vals("OperationalStatus", "2"), str("EnabledState", "2"),
			str("RequestedState", "2"), str("Started", "true"), str("FailCount", "0"), str("ResourceClass", "ocf:heartbeat:IPaddr2"))
	}
}

const benchN = 10000

// bench serves benchN resource instances from the in-memory provider.
func bench(b *testing.B) wbemtest.Bench {
	env := newEnv(b, nil)
	resources(b, env.mem, benchN-1) // plus web-ip
	return wbemtest.Bench{Handler: env.srv, Namespace: model, Class: "PCMK_ClusterResource", N: benchN, User: testUser, Pass: testPass}
}

// BenchmarkEnumerateInstances10k: one EnumerateInstances of 10,000
// resource instances per iteration, encoded to a discarding writer.
func BenchmarkEnumerateInstances10k(b *testing.B) { bench(b).Enumerate(b) }

// BenchmarkPull10k: OpenEnumerateInstances + PullInstancesWithPath in
// slices of 500 over 10,000 instances per iteration.
func BenchmarkPull10k(b *testing.B) { bench(b).Pull(b, false) }

// BenchmarkPull10kLiveHeap is BenchmarkPull10k with a GC before sampling
// the heap after every response: peak-live-heap-growth-KB is the most
// live memory the open enumeration held beyond the provider's data. With
// the enumeration kept as a suspended iterator it stays at the size of
// one slice, not of the result.
func BenchmarkPull10kLiveHeap(b *testing.B) { bench(b).Pull(b, true) }
