package cim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the process's user+system CPU time; on a shared machine
// instances per CPU-second is steadier than per wall-clock second.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardWriter is an http.ResponseWriter that drops the body.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// resources adds n resource instances shaped like the model's.
func resources(b testing.TB, m *MemProvider, n int) {
	for i := range n {
		addInst(b, m, model, "PCMK_ClusterResource", str("SystemCreationClassName", "PCMK_Cluster"), str("SystemName", "mycluster"),
			str("CreationClassName", "PCMK_ClusterResource"), str("Name", fmt.Sprintf("rsc-%05d", i)),
			str("ElementName", fmt.Sprintf("Resource %d", i)), vals("OperationalStatus", "2"), str("EnabledState", "2"),
			str("RequestedState", "2"), str("Started", "true"), str("FailCount", "0"), str("ResourceClass", "ocf:heartbeat:IPaddr2"))
	}
}

func benchRequest(method, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/cimom", strings.NewReader(body))
	r.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	r.Header.Set("CIMOperation", "MethodCall")
	r.Header.Set("CIMMethod", method)
	r.Header.Set("CIMObject", "root/cimv2")
	r.SetBasicAuth(testUser, testPass)
	return r
}

const benchN = 10000

// BenchmarkEnumerateInstances10k: one EnumerateInstances of 10,000
// resource instances per iteration, encoded to a discarding writer.
func BenchmarkEnumerateInstances10k(b *testing.B) {
	env := newEnv(b, nil)
	resources(b, env.mem, benchN-1) // plus web-ip
	body := imethod("EnumerateInstances", "root/cimv2", cn("ClassName", "PCMK_ClusterResource"))
	var bytes int
	b.ReportAllocs()
	start, cpu := time.Now(), cpuTime(b)
	for b.Loop() {
		w := &discardWriter{h: http.Header{}}
		env.srv.ServeHTTP(w, benchRequest("EnumerateInstances", body))
		bytes = w.n
	}
	el, cpuEl := time.Since(start), cpuTime(b)-cpu
	b.ReportMetric(float64(benchN*b.N)/el.Seconds(), "instances/s")
	b.ReportMetric(float64(benchN*b.N)/cpuEl.Seconds(), "instances/cpu-s")
	b.ReportMetric(float64(bytes), "response-bytes")
}

// BenchmarkPull10k: OpenEnumerateInstances + PullInstancesWithPath in
// slices of 500 over 10,000 instances per iteration.
func BenchmarkPull10k(b *testing.B) { benchPull(b, false) }

// BenchmarkPull10kLiveHeap is BenchmarkPull10k with a GC before sampling
// the heap after every response: peak-live-heap-growth-KB is the most
// live memory the open enumeration held beyond the provider's data. With
// the enumeration kept as a suspended iterator it stays at the size of
// one slice, not of the result.
func BenchmarkPull10kLiveHeap(b *testing.B) { benchPull(b, true) }

func benchPull(b *testing.B, gc bool) {
	env := newEnv(b, nil)
	resources(b, env.mem, benchN-1)
	open := imethod("OpenEnumerateInstances", "root/cimv2", cn("ClassName", "PCMK_ClusterResource")+val("MaxObjectCount", "500"))
	var peak uint64
	var ms runtime.MemStats
	sample := func() {
		if !gc {
			return
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	b.ReportAllocs()
	start, cpu := time.Now(), cpuTime(b)
	pulls := 0
	for b.Loop() {
		w := &recWriter{discardWriter: discardWriter{h: http.Header{}}}
		env.srv.ServeHTTP(w, benchRequest("OpenEnumerateInstances", open))
		for {
			sample()
			m := ctxRE.FindSubmatch(w.tail)
			if m == nil || len(m[1]) == 0 {
				break
			}
			pulls++
			w = &recWriter{discardWriter: discardWriter{h: http.Header{}}}
			env.srv.ServeHTTP(w, benchRequest("PullInstancesWithPath", imethod("PullInstancesWithPath", "root/cimv2",
				val("EnumerationContext", string(m[1]))+val("MaxObjectCount", "500"))))
		}
	}
	el, cpuEl := time.Since(start), cpuTime(b)-cpu
	if gc {
		b.ReportMetric(float64(peak-min(base, peak))/(1<<10), "peak-live-heap-growth-KB")
	} else {
		b.ReportMetric(float64(benchN*b.N)/el.Seconds(), "instances/s")
		b.ReportMetric(float64(benchN*b.N)/cpuEl.Seconds(), "instances/cpu-s")
	}
	b.ReportMetric(float64(pulls)/float64(b.N), "pulls/op")
}

// recWriter keeps the last bytes written (the pull trailer).
type recWriter struct {
	discardWriter
	tail []byte
}

func (r *recWriter) Write(p []byte) (int, error) {
	r.tail = append(r.tail, p...)
	if len(r.tail) > 4096 {
		r.tail = append(r.tail[:0], r.tail[len(r.tail)-1024:]...)
	}
	return r.discardWriter.Write(p)
}
