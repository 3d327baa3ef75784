package snmp

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/snmp/agentx"
)

// benchTable builds cells varbinds laid out as <base>.1.1.<col>.<row>
// with 10 columns of mixed types, like the research note's bench.
func benchTable(tb testing.TB, base agentx.OID, cells int) *agentx.Table {
	var b agentx.TableBuilder
	rows := cells / 10
	for col := uint32(1); col <= 10; col++ {
		for row := uint32(1); row <= uint32(rows); row++ {
			o := base.Append(1, 1, col, row)
			switch col % 4 {
			case 0:
				b.Add(o, agentx.Integer(int32(row)))
			case 1:
				b.Add(o, agentx.OctetString(fmt.Sprintf("row-%06d-col-%02d-val", row, col)))
			case 2:
				b.Add(o, agentx.Gauge32(row*col))
			default:
				b.Add(o, agentx.Counter64(uint64(row)<<20))
			}
		}
	}
	t, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// rawResponder is the minimal AgentX subagent the benchmark compares
// against: one goroutine, no locks, Open + Register, then a loop that
// answers Get/GetNext from a table with one write per request.
func rawResponder(tb testing.TB, addr string, subtree agentx.OID, table *agentx.Table) (stop func()) {
	network, address, err := agentx.ParseAddr(addr)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := net.Dial(network, address)
	if err != nil {
		tb.Fatal(err)
	}
	send := func(p *agentx.PDU) {
		p.Flags |= agentx.FlagNetworkByteOrder
		b, err := agentx.AppendPDU(nil, p)
		if err == nil {
			_, err = c.Write(b)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	r := bufio.NewReader(c)
	read := func() *agentx.PDU {
		hdr := make([]byte, agentx.HeaderLen)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil
		}
		h, err := agentx.ParseHeader(hdr)
		if err != nil {
			return nil
		}
		buf := make([]byte, agentx.HeaderLen+int(h.PayloadLength))
		copy(buf, hdr)
		if _, err := io.ReadFull(r, buf[agentx.HeaderLen:]); err != nil {
			return nil
		}
		p, err := agentx.DecodePDU(buf)
		if err != nil {
			return nil
		}
		return p
	}
	send(&agentx.PDU{Header: agentx.Header{Type: agentx.TypeOpen, PacketID: 1}, Timeout: 5, ID: subtree, Descr: []byte("raw")})
	open := read()
	if open == nil || open.Error != 0 {
		tb.Fatal("raw responder: open failed")
	}
	sess := open.SessionID
	send(&agentx.PDU{Header: agentx.Header{Type: agentx.TypeRegister, SessionID: sess, PacketID: 2}, Timeout: 5, Priority: 127, Subtree: subtree})
	if reg := read(); reg == nil || reg.Error != 0 {
		tb.Fatal("raw responder: register failed")
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out := make([]byte, 0, 4096)
		for {
			p := read()
			if p == nil {
				return
			}
			out = append(out[:0], 1, byte(agentx.TypeResponse), agentx.FlagNetworkByteOrder, 0)
			out = binary.BigEndian.AppendUint32(out, p.SessionID)
			out = binary.BigEndian.AppendUint32(out, p.TransactionID)
			out = binary.BigEndian.AppendUint32(out, p.PacketID)
			out = binary.BigEndian.AppendUint32(out, 0)
			out = binary.BigEndian.AppendUint32(out, 0)
			out = binary.BigEndian.AppendUint32(out, 0)
			for _, rg := range p.Ranges {
				var vb agentx.VarBind
				var ok bool
				if p.Type == agentx.TypeGet {
					var v agentx.Value
					v, ok = table.Lookup(rg.Start)
					vb = agentx.VarBind{Name: rg.Start, Value: v}
					if !ok {
						vb.Value = agentx.Value{Type: agentx.VarNoSuchObject}
					}
				} else if vb, ok = table.Next(rg); !ok {
					vb = agentx.VarBind{Name: rg.Start, Value: agentx.Value{Type: agentx.VarEndOfMibView}}
				}
				out, _ = agentx.AppendVarBind(out, vb)
			}
			binary.BigEndian.PutUint32(out[16:], uint32(len(out)-agentx.HeaderLen))
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}()
	return func() { c.Close(); wg.Wait() }
}

// buildGoAgentX builds tools/goagentx-bench, a separate module that serves
// the same cells through github.com/posteo/go-agentx v0.3.0.
func buildGoAgentX(tb testing.TB) string {
	bin := filepath.Join(tb.TempDir(), "goagentx-bench")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "tools", "goagentx-bench")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build tools/goagentx-bench: %v\n%s", err, out)
	}
	return bin
}

// runGoAgentX starts the go-agentx server and waits for its registration.
func runGoAgentX(tb testing.TB, bin, addr string, base agentx.OID, cells int) (stop func(), cpu func() time.Duration) {
	cmd := exec.Command(bin, "-addr", addr, "-base", strings.TrimPrefix(base.String(), "."), "-cells", strconv.Itoa(cells))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "registered" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		tb.Fatalf("goagentx-bench did not register: %q %v", line, err)
	}
	cpu = func() time.Duration { return procCPU(tb, cmd.Process.Pid) }
	return func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}, cpu
}

// procCPU reads another process's user+system CPU time from /proc.
func procCPU(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (100 Hz).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// selfCPU is the user+system CPU time of this process (the subagent
// side; snmpd and snmpbulkwalk are other processes).
func selfCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bulkwalk runs snmpbulkwalk -Cr50 over base and returns the number of
// varbinds printed.
func bulkwalk(tb testing.TB, d *snmpd, base agentx.OID) int {
	cmd := exec.Command(lookTool(tb, "snmpbulkwalk"), "-v2c", "-c", "public", "-On", "-Oq", "-t", "10", "-Cr50",
		"127.0.0.1:"+strconv.Itoa(d.port), base.String())
	cmd.Env = append(os.Environ(), agentEnv(d.dir)...)
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("snmpbulkwalk: %v", err)
	}
	return strings.Count(string(out), "\n")
}

// BenchmarkBulkWalk walks tables of 1k, 10k and 100k cells through snmpd,
// served by mgmtd's agentx.Client, by the minimal raw responder and by
// go-agentx v0.3.0 (tools/goagentx-bench, another process), and reports
// the wall time and the subagent's CPU time per varbind. Run with -benchtime=1x (each iteration is
// one full walk).
func BenchmarkBulkWalk(b *testing.B) {
	d := startSnmpd(b, "unix")
	goagentx := buildGoAgentX(b)
	for _, cells := range []int{1_000, 10_000, 100_000} {
		for i, impl := range []string{"mgmtd", "raw", "goagentx"} {
			base := EnterpriseOID.Append(uint32(50 + i))
			table := benchTable(b, base, cells)
			b.Run(fmt.Sprintf("%s/%d", impl, cells), func(b *testing.B) {
				var stop func()
				cpuOf := func() time.Duration { return selfCPU(b) }
				switch impl {
				case "raw":
					stop = rawResponder(b, d.agentx, base, table)
				case "goagentx":
					stop, cpuOf = runGoAgentX(b, goagentx, d.agentx, base, cells)
				default:
					c, err := agentx.NewClient(agentx.Config{Addr: d.agentx, ID: base, Subtrees: []agentx.OID{base}}, nil)
					if err != nil {
						b.Fatal(err)
					}
					c.SetTable(table)
					ctx, cancel := context.WithCancel(context.Background())
					done := make(chan struct{})
					go func() { _ = c.Run(ctx); close(done) }()
					testutil.Eventually(b, waitTimeout, func() bool { return c.Stats().Registered }, "the client has registered")
					stop = func() { cancel(); <-done }
				}
				defer stop()
				b.ResetTimer()
				n := 0
				cpu0 := cpuOf()
				for range b.N {
					n += bulkwalk(b, d, base)
				}
				cpu := cpuOf() - cpu0
				b.StopTimer()
				if n != cells*b.N {
					b.Fatalf("walked %d varbinds, want %d", n, cells*b.N)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/varbind")
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "varbinds/s")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "subagent-cpu-ns/varbind")
			})
		}
	}
}
