package wbemtest

import (
	"net/http"
	"regexp"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Bench is a server under benchmark: Handler serves n instances of Class
// in Namespace to a client with Basic credentials User and Pass.
type Bench struct {
	Handler          http.Handler
	Namespace, Class string
	N                int
	User, Pass       string
}

// cpuTime returns the process's user+system CPU time; on a shared machine
// instances per CPU-second is steadier than per wall-clock second.
func cpuTime(b *testing.B) time.Duration {
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

func (x Bench) serve(method, body string) *sink {
	w := &sink{h: http.Header{}}
	x.Handler.ServeHTTP(w, NewRequest(method, x.Namespace, body, x.User, x.Pass))
	return w
}

// Enumerate runs one EnumerateInstances of the class per iteration,
// encoded to a discarding writer, and reports instances per second (wall
// clock and CPU) and the response size.
func (x Bench) Enumerate(b *testing.B) {
	body := IMethodCall("EnumerateInstances", x.Namespace, ClassNameParam("ClassName", x.Class))
	var n int
	b.ReportAllocs()
	start, cpu := time.Now(), cpuTime(b)
	for b.Loop() {
		n = x.serve("EnumerateInstances", body).n
	}
	el, cpuEl := time.Since(start), cpuTime(b)-cpu
	b.ReportMetric(float64(x.N*b.N)/el.Seconds(), "instances/s")
	b.ReportMetric(float64(x.N*b.N)/cpuEl.Seconds(), "instances/cpu-s")
	b.ReportMetric(float64(n), "response-bytes")
}

// Op runs the intrinsic operation method with params per iteration and
// reports the response size.
func (x Bench) Op(b *testing.B, method, params string) {
	body := IMethodCall(method, x.Namespace, params)
	var n int
	for b.Loop() {
		n = x.serve(method, body).n
	}
	b.ReportMetric(float64(n), "response-bytes")
}

var enumCtxRE = regexp.MustCompile(`<PARAMVALUE NAME="EnumerationContext"[^>]*><VALUE>([^<]*)</VALUE>`)

// Pull runs OpenEnumerateInstances + PullInstancesWithPath in slices of
// 500 over the class per iteration and reports instances per second. With
// liveHeap it samples the live heap (after a GC) after every response
// instead: peak-live-heap-growth-KB is the most live memory the open
// enumeration held beyond the provider's data; a suspended iterator keeps
// it at the size of one slice, not of the result.
func (x Bench) Pull(b *testing.B, liveHeap bool) {
	open := IMethodCall("OpenEnumerateInstances", x.Namespace, ClassNameParam("ClassName", x.Class)+ValueParam("MaxObjectCount", "500"))
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, uint64(0)
	b.ReportAllocs()
	start, cpu := time.Now(), cpuTime(b)
	pulls := 0
	for b.Loop() {
		w := x.serve("OpenEnumerateInstances", open)
		for {
			if liveHeap {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
			m := enumCtxRE.FindSubmatch(w.tail)
			if m == nil || len(m[1]) == 0 {
				break
			}
			pulls++
			w = x.serve("PullInstancesWithPath", IMethodCall("PullInstancesWithPath", x.Namespace,
				ValueParam("EnumerationContext", string(m[1]))+ValueParam("MaxObjectCount", "500")))
		}
	}
	el, cpuEl := time.Since(start), cpuTime(b)-cpu
	if liveHeap {
		b.ReportMetric(float64(peak-min(base, peak))/(1<<10), "peak-live-heap-growth-KB")
	} else {
		b.ReportMetric(float64(x.N*b.N)/el.Seconds(), "instances/s")
		b.ReportMetric(float64(x.N*b.N)/cpuEl.Seconds(), "instances/cpu-s")
	}
	b.ReportMetric(float64(pulls)/float64(b.N), "pulls/op")
}
