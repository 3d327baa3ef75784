package mgmtd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mgmtd/internal/lab"
)

// treeCPU is the CPU time, in clock ticks, of pid and every live process
// below it, plus what its reaped children used: the daemon's whole cost,
// including a long-lived watcher and the tools it ran.
func treeCPU(t testing.TB, pid int) int64 {
	t.Helper()
	parent := map[int]int{}
	cpu := map[int]int64{}
	reaped := int64(0)
	entries, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, e := range entries {
		b, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		// Fields after the command name (which may hold spaces).
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+2:])
		p, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(e, "/proc/"), "/stat"))
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		cut, _ := strconv.ParseInt(f[13], 10, 64)
		cst, _ := strconv.ParseInt(f[14], 10, 64)
		parent[p] = ppid
		cpu[p] = ut + st
		if p == pid {
			reaped = cut + cst
		}
	}
	in := func(p int) bool {
		for ; p > 1; p = parent[p] {
			if p == pid {
				return true
			}
		}
		return false
	}
	total := reaped
	for p, c := range cpu {
		if in(p) {
			total += c
		}
	}
	return total
}

// BenchmarkLabIdleCPU measures what mgmtd costs on lab node1 while the
// cluster is idle (3 nodes, the fencing device, one Dummy), the daemon's
// CPU plus its tools' and its watcher's, over two minutes after a 10 s
// start, in CPU-seconds per hour: as before (crm_mon for the status, no
// watcher, the version check every 5 s) and as now (the status unpacked
// natively and cross-checked, the watcher, the version check every 30 s).
//
//	go test -run '^$' -bench LabIdleCPU -benchtime 1x -timeout 30m ./mgmtd/
func BenchmarkLabIdleCPU(b *testing.B) {
	l := lab.Up(b, 3)
	labDummy(b, l)
	const window = 2 * time.Minute
	for _, mode := range []struct {
		name string
		cfg  map[string]any
	}{
		{"crm_mon-poll", map[string]any{"pacemaker": map[string]any{"status": "crm_mon", "watch": false}}},
		{"native-watch", map[string]any{}},
	} {
		d := startLabDaemon(b, l, "node1", mode.cfg)
		time.Sleep(10 * time.Second)
		before := treeCPU(b, d.pid)
		time.Sleep(window)
		used := float64(treeCPU(b, d.pid)-before) / 100 // USER_HZ
		d.stop()
		b.ReportMetric(used*float64(time.Hour/window), mode.name+"-cpu-s/h")
	}
}
