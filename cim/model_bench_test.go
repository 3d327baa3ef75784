package cim_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/cim"
	"mgmtd/model"
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

func bigServer(b *testing.B) *cim.Server {
	p, err := cim.NewModelProvider(cim.ModelOptions{Store: bigStore(b), SystemName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := cim.NewServer(cim.Config{Provider: p, Authenticate: basicStub})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	return srv
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sink is an http.ResponseWriter that counts the body and keeps its tail
// (the pull trailer).
type sink struct {
	h    http.Header
	n    int
	tail []byte
}

func (s *sink) Header() http.Header { return s.h }
func (s *sink) WriteHeader(int)     {}
func (s *sink) Write(p []byte) (int, error) {
	s.n += len(p)
	s.tail = append(s.tail, p...)
	if len(s.tail) > 4096 {
		s.tail = append(s.tail[:0], s.tail[len(s.tail)-1024:]...)
	}
	return len(p), nil
}

func benchReq(method, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/cimom", strings.NewReader(body))
	r.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	r.Header.Set("CIMOperation", "MethodCall")
	r.Header.Set("CIMMethod", method)
	r.Header.Set("CIMObject", mns)
	r.SetBasicAuth(mUser, mPass)
	return r
}

func valueParam(name, v string) string {
	return `<IPARAMVALUE NAME="` + name + `"><VALUE>` + v + `</VALUE></IPARAMVALUE>`
}

// BenchmarkModelEnumerate10k: one EnumerateInstances of the 10,000
// MGMTD_ClusterResource instances of a synthetic snapshot per iteration,
// built from the snapshot on the fly and encoded to a discarding writer.
func BenchmarkModelEnumerate10k(b *testing.B) {
	srv := bigServer(b)
	body := imcall("EnumerateInstances", mns, classParam("ClassName", "MGMTD_ClusterResource"))
	var n int
	b.ReportAllocs()
	start, cpu := time.Now(), processCPU(b)
	for b.Loop() {
		w := &sink{h: http.Header{}}
		srv.ServeHTTP(w, benchReq("EnumerateInstances", body))
		n = w.n
	}
	el, cpuEl := time.Since(start), processCPU(b)-cpu
	b.ReportMetric(float64(bigN*b.N)/el.Seconds(), "instances/s")
	b.ReportMetric(float64(bigN*b.N)/cpuEl.Seconds(), "instances/cpu-s")
	b.ReportMetric(float64(n), "response-bytes")
}

var enumCtxRE = regexp.MustCompile(`<PARAMVALUE NAME="EnumerationContext"[^>]*><VALUE>([^<]*)</VALUE>`)

// BenchmarkModelPull10k: OpenEnumerateInstances + PullInstancesWithPath
// in slices of 500 over the 10,000 resources per iteration.
func BenchmarkModelPull10k(b *testing.B) { benchModelPull(b, false) }

// BenchmarkModelPull10kLiveHeap samples the live heap (after a GC) after
// every pull response: the growth stays at about one slice because the
// open enumeration is a suspended iterator over the snapshot.
func BenchmarkModelPull10kLiveHeap(b *testing.B) { benchModelPull(b, true) }

func benchModelPull(b *testing.B, gc bool) {
	srv := bigServer(b)
	open := imcall("OpenEnumerateInstances", mns, classParam("ClassName", "MGMTD_ClusterResource")+valueParam("MaxObjectCount", "500"))
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, uint64(0)
	b.ReportAllocs()
	start, cpu := time.Now(), processCPU(b)
	pulls := 0
	for b.Loop() {
		w := &sink{h: http.Header{}}
		srv.ServeHTTP(w, benchReq("OpenEnumerateInstances", open))
		for {
			if gc {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
			m := enumCtxRE.FindSubmatch(w.tail)
			if m == nil || len(m[1]) == 0 {
				break
			}
			pulls++
			w = &sink{h: http.Header{}}
			srv.ServeHTTP(w, benchReq("PullInstancesWithPath", imcall("PullInstancesWithPath", mns,
				valueParam("EnumerationContext", string(m[1]))+valueParam("MaxObjectCount", "500"))))
		}
	}
	el, cpuEl := time.Since(start), processCPU(b)-cpu
	if gc {
		b.ReportMetric(float64(peak-min(base, peak))/(1<<10), "peak-live-heap-growth-KB")
	} else {
		b.ReportMetric(float64(bigN*b.N)/el.Seconds(), "instances/s")
		b.ReportMetric(float64(bigN*b.N)/cpuEl.Seconds(), "instances/cpu-s")
	}
	b.ReportMetric(float64(pulls)/float64(b.N), "pulls/op")
}

// TestBigSnapshotCounts checks the synthetic snapshot the benchmarks use:
// all 10,000 resources enumerate and pull completely.
func TestBigSnapshotCounts(t *testing.T) {
	p, err := cim.NewModelProvider(cim.ModelOptions{Store: bigStore(t)})
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
	srv := bigServer(b)
	rsc := instanceName("MGMTD_ClusterResource", "SystemCreationClassName", "MGMTD_Cluster", "SystemName", "big", "CreationClassName", "MGMTD_ClusterResource", "Name", "rsc-04711")
	node := instanceName("MGMTD_ComputerSystem", "CreationClassName", "MGMTD_ComputerSystem", "Name", "n2")
	for _, tc := range []struct{ name, method, obj string }{
		{"resource", "Associators", rsc},
		{"node", "AssociatorNames", node},
	} {
		b.Run(tc.name, func(b *testing.B) {
			body := imcall(tc.method, mns, nameParam("ObjectName", tc.obj))
			var n int
			for b.Loop() {
				w := &sink{h: http.Header{}}
				srv.ServeHTTP(w, benchReq(tc.method, body))
				n = w.n
			}
			b.ReportMetric(float64(n), "response-bytes")
		})
	}
}
