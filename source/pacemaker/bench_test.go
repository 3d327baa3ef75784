package pacemaker

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"mgmtd/model"
	"mgmtd/source/pacemaker/cib"
	"mgmtd/source/pacemaker/crmmon"
	"mgmtd/source/pacemaker/unpack"
)

var (
	benchNodes     = flag.Int("bench-nodes", 1000, "nodes of the generated CIB for BenchmarkRebuild")
	benchResources = flag.Int("bench-resources", 10000, "primitives of the generated CIB for BenchmarkRebuild")
)

var bigOnce struct {
	sync.Once
	dir     string
	crmMonS float64
	err     error
}

// bigCIB generates a CIB with tools/gencib and renders it once with the
// real crm_mon, timing crm_mon.
func bigCIB(b *testing.B) (cibFile, monFile string, crmMonSeconds float64) {
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mgmtd-bench-")
		if err != nil {
			bigOnce.err = err
			return
		}
		bigOnce.dir = dir
		cibFile := filepath.Join(dir, "cib.xml")
		gen := exec.Command("go", "run", "../../tools/gencib", "-nodes", itoa(*benchNodes), "-resources", itoa(*benchResources), "-o", cibFile)
		if out, err := gen.CombinedOutput(); err != nil {
			bigOnce.err = err
			b.Log(string(out))
			return
		}
		mon, err := os.Create(filepath.Join(dir, "crm_mon.xml"))
		if err != nil {
			bigOnce.err = err
			return
		}
		defer mon.Close()
		cmd := exec.Command("crm_mon", "--output-as=xml", "--inactive", "--include=all")
		cmd.Env = append(os.Environ(), "CIB_file="+cibFile)
		cmd.Stdout = mon
		start := time.Now()
		if err := cmd.Run(); err != nil {
			bigOnce.err = err
			return
		}
		bigOnce.crmMonS = time.Since(start).Seconds()
		if ps := cmd.ProcessState; ps != nil {
			// CPU time is steadier than wall time on a shared machine.
			bigOnce.crmMonS = (ps.UserTime() + ps.SystemTime()).Seconds()
		}
	})
	if bigOnce.err != nil {
		b.Fatal(bigOnce.err)
	}
	return filepath.Join(bigOnce.dir, "cib.xml"), filepath.Join(bigOnce.dir, "crm_mon.xml"), bigOnce.crmMonS
}

func itoa(n int) string { return strconv.Itoa(n) }

// BenchmarkRebuild measures a full model rebuild from crm_mon's and the
// CIB's bytes (parse both, build the part, merge, index, diff, publish)
// for a generated 1,000-node / 10,000-resource cluster, and reports
// crm_mon's own CPU time on the same CIB as crm_mon-cpu-s.
func BenchmarkRebuild(b *testing.B) {
	cibFile, monFile, crmMonS := bigCIB(b)
	monData, err := os.ReadFile(monFile)
	if err != nil {
		b.Fatal(err)
	}
	cibData, err := os.ReadFile(cibFile)
	if err != nil {
		b.Fatal(err)
	}
	st := model.NewStore(model.StoreOptions{})
	b.ReportAllocs()
	cpuStart := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mon, err := crmmon.Parse(monData)
		if err != nil {
			b.Fatal(err)
		}
		doc, err := cib.Parse(cibData)
		if err != nil {
			b.Fatal(err)
		}
		sn := st.Report(model.Report{Source: Name, Pacemaker: Build(mon, doc, nil)})
		if len(sn.Instances) < *benchResources {
			b.Fatalf("only %d instances", len(sn.Instances))
		}
	}
	b.StopTimer()
	// CPU time of the process (all threads, GC included) per rebuild,
	// compared with crm_mon's CPU time: wall time lies on a shared machine.
	per := (cpuTime() - cpuStart).Seconds() / float64(b.N)
	b.ReportMetric(per, "cpu-s/op")
	b.ReportMetric(crmMonS, "crm_mon-cpu-s")
	b.ReportMetric(per/crmMonS*100, "%-of-crm_mon")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
}

// BenchmarkLoad includes running crm_mon: what one refresh costs.
func BenchmarkLoad(b *testing.B) {
	cibFile, _, _ := bigCIB(b)
	src := New(Options{CIBFile: cibFile, Timeout: 10 * time.Minute}, nil, quiet())
	for i := 0; i < b.N; i++ {
		if _, err := src.Load(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkNativeRebuild is BenchmarkRebuild with the status unpacked
// from the CIB in Go instead of read from crm_mon's XML: the whole
// refresh of the native path (read the CIB's bytes, unpack, parse the
// configuration, build, merge, publish), next to crm_mon's own CPU time
// on the same CIB.
func BenchmarkNativeRebuild(b *testing.B) {
	cibFile, _, crmMonS := bigCIB(b)
	cibData, err := os.ReadFile(cibFile)
	if err != nil {
		b.Fatal(err)
	}
	st := model.NewStore(model.StoreOptions{})
	b.ReportAllocs()
	cpuStart := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mon, err := unpack.Unpack(cibData, unpack.Options{})
		if err != nil {
			b.Fatal(err)
		}
		doc, err := cib.Parse(cibData)
		if err != nil {
			b.Fatal(err)
		}
		sn := st.Report(model.Report{Source: Name, Pacemaker: Build(mon, doc, nil)})
		if len(sn.Instances) < *benchResources {
			b.Fatalf("only %d instances", len(sn.Instances))
		}
	}
	b.StopTimer()
	per := (cpuTime() - cpuStart).Seconds() / float64(b.N)
	b.ReportMetric(per, "cpu-s/op")
	b.ReportMetric(crmMonS, "crm_mon-cpu-s")
	b.ReportMetric(crmMonS/per, "x-faster-than-crm_mon")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
}

// BenchmarkUnpack is the native unpacking alone on the generated CIB.
func BenchmarkUnpack(b *testing.B) {
	cibFile, _, _ := bigCIB(b)
	cibData, err := os.ReadFile(cibFile)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(cibData)))
	for i := 0; i < b.N; i++ {
		if _, err := unpack.Unpack(cibData, unpack.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatusRead is the refresh of the native path after a status
// change on the generated 1,000-node CIB, as the daemon does it while
// the configuration version stands: the status section applied to the
// cached configuration (one node's operation changed, every other
// node_state reused), the transition operations of the changed node,
// build, merge, publish. Compare with BenchmarkNativeRebuild, the full
// read of the same CIB. cibadmin's own cost (the status query) is not in
// either.
func BenchmarkStatusRead(b *testing.B) {
	cibFile, _, _ := bigCIB(b)
	data, err := os.ReadFile(cibFile)
	if err != nil {
		b.Fatal(err)
	}
	open := bytes.Index(data, []byte("<cib "))
	tagEnd := bytes.IndexByte(data[open:], '>')
	tag := append(append([]byte(nil), data[open:open+tagEnd]...), "/>"...)
	status := data[bytes.LastIndex(data, []byte("<status>")) : bytes.LastIndex(data, []byte("</status>"))+len("</status>")]
	// Two versions of the status that differ in one node's newest
	// operation, applied in turn.
	at := bytes.Index(status, []byte(`rc-code="0"`))
	if at < 0 {
		b.Fatal("no rc-code in the generated status")
	}
	other := append(append(append([]byte(nil), status[:at]...), `rc-code="7"`...), status[at+len(`rc-code="0"`):]...)
	versions := [][]byte{status, other}
	doc, err := cib.Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	var c unpack.Cache
	if _, err := c.Full(data, unpack.Options{}); err != nil {
		b.Fatal(err)
	}
	var ops opsCache
	log := quiet()
	ops.of(data, c.Chunks(), log)
	st := model.NewStore(model.StoreOptions{})
	before := c.Stats()
	b.ReportAllocs()
	cpuStart := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := versions[i%2]
		mon, err := c.Status(tag, v, unpack.Options{})
		if err != nil {
			b.Fatal(err)
		}
		ops.of(v, c.Chunks(), log)
		sn := st.Report(model.Report{Source: Name, Pacemaker: Build(mon, doc, nil)})
		if len(sn.Instances) < *benchResources {
			b.Fatalf("only %d instances", len(sn.Instances))
		}
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpuStart).Seconds()/float64(b.N), "cpu-s/op")
	s := c.Stats()
	b.ReportMetric(float64(s.Parsed-before.Parsed)/float64(b.N), "parsed-node-states/op")
}

// BenchmarkFullReadCached is the full read of the native path (the
// safety net's, and the one after a configuration change) on the
// generated 1,000-node CIB when the status did not change since the last
// read: the configuration is parsed, every node_state's tree and
// transition operations are reused. Compare with BenchmarkNativeRebuild,
// which parses everything.
func BenchmarkFullReadCached(b *testing.B) {
	cibFile, _, _ := bigCIB(b)
	data, err := os.ReadFile(cibFile)
	if err != nil {
		b.Fatal(err)
	}
	var c unpack.Cache
	var ops opsCache
	log := quiet()
	if _, err := c.Full(data, unpack.Options{}); err != nil {
		b.Fatal(err)
	}
	ops.of(data, c.Chunks(), log)
	st := model.NewStore(model.StoreOptions{})
	b.ReportAllocs()
	cpuStart := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mon, err := c.Full(data, unpack.Options{})
		if err != nil {
			b.Fatal(err)
		}
		conf := c.Configuration()
		if conf == nil {
			b.Fatal("the generated CIB's configuration cannot be cut out")
		}
		doc, err := cib.Parse(conf)
		if err != nil {
			b.Fatal(err)
		}
		ops.of(data, c.Chunks(), log)
		sn := st.Report(model.Report{Source: Name, Pacemaker: Build(mon, doc, nil)})
		if len(sn.Instances) < *benchResources {
			b.Fatalf("only %d instances", len(sn.Instances))
		}
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpuStart).Seconds()/float64(b.N), "cpu-s/op")
}
