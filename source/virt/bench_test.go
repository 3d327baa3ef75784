package virt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"mgmtd/model"
)

// The benchmark fleet: benchHosts simulated hypervisors with benchVMs
// domains each, served by benchDaemons libvirtds (each daemon serves
// several test:///host-NN.xml files; every connection to a file is an
// independent host). Fifty daemons would need ~1 GB of RSS on a 2-core
// machine shared with other jobs.
const (
	benchHosts   = 50
	benchVMs     = 100
	benchDaemons = 5
)

func startFleet(b *testing.B) []HostConfig {
	b.Helper()
	dir := b.TempDir()
	var daemons []*libvirtd
	for i := range benchDaemons {
		daemons = append(daemons, startLibvirtd(b, filepath.Join(dir, fmt.Sprintf("d%d", i))))
	}
	hosts := make([]HostConfig, benchHosts)
	for h := range benchHosts {
		x, err := genNodeXML(32, 268435456, benchHost(h, benchVMs))
		if err != nil {
			b.Fatal(err)
		}
		file := filepath.Join(dir, fmt.Sprintf("host-%02d.xml", h))
		if err := os.WriteFile(file, x, 0o644); err != nil {
			b.Fatal(err)
		}
		hosts[h] = HostConfig{Name: fmt.Sprintf("hv%02d", h), URI: daemons[h%benchDaemons].uri(file)}
	}
	return hosts
}

// BenchmarkFullRefresh measures one full refresh of the whole fleet (host
// facts and every domain of all hosts, hosts in parallel) over
// established go-libvirt connections.
func BenchmarkFullRefresh(b *testing.B) {
	hosts := startFleet(b)
	ctx := context.Background()
	lc := lvConnector{callTimeout: 10 * time.Second, sshCommand: "ssh", parallel: DefaultParallel}
	conns := make([]conn, len(hosts))
	for i, h := range hosts {
		c, err := lc.connect(ctx, h)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
		defer c.close()
	}
	b.ResetTimer()
	for b.Loop() {
		var g errgroup.Group
		counts := make([]int, len(conns))
		for i, c := range conns {
			g.Go(func() error {
				if _, err := c.hostInfo(ctx); err != nil {
					return err
				}
				doms, err := c.domains(ctx, true)
				counts[i] = len(doms)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		for i, n := range counts {
			if n != benchVMs {
				b.Fatalf("host %d: %d domains, want %d", i, n, benchVMs)
			}
		}
	}
	b.ReportMetric(float64(benchHosts*benchVMs), "VMs/op")
}

// partReporter hands every reported part to the benchmark.
type partReporter chan *model.VirtPart

func (p partReporter) Report(r model.Report) *model.Snapshot {
	p <- r.Virt
	return nil
}

// BenchmarkEventToModel runs the whole source over the fleet and measures,
// per operation, the time from suspending or resuming a domain (on the
// source's own connection: test-driver file state is private to a
// connection) until the change is visible. Sub-benchmark "store" reports
// to a real model.Store and waits for the new snapshot; "report" waits
// only for the source's report (the source's own share of the latency).
// Both also report the cold start: from Run until all hosts and VMs are in.
func BenchmarkEventToModel(b *testing.B) {
	hosts := startFleet(b)
	b.Run("store", func(b *testing.B) {
		store := model.NewStore(model.StoreOptions{Cluster: "bench"})
		benchEvents(b, hosts, store, func(host, vm string, want model.VMState) bool {
			v, _ := vmIn(store.Snapshot(), host, vm)
			return v.State == want
		}, func() {
			// Not synchronisation: the check interval of a latency
			// measurement, far finer than testutil.PollInterval so that
			// the result is not rounded up to it.
			time.Sleep(50 * time.Microsecond)
		})
	})
	b.Run("report", func(b *testing.B) {
		parts := make(partReporter, 1024)
		var last *model.VirtPart
		benchEvents(b, hosts, parts, func(host, vm string, want model.VMState) bool {
			if last == nil {
				return false
			}
			for _, v := range last.VMs {
				if v.Host == host && v.Name == vm {
					return v.State == want
				}
			}
			return false
		}, func() {
			select {
			case last = <-parts:
			case <-time.After(time.Second):
			}
		})
		_ = last
	})
}

// benchEvents starts the source over hosts, waits for the whole fleet
// (seen) and then times domain changes until seen; wait blocks a little
// between checks. The loops are not testutil.Poll because the wait between
// checks is the sub-benchmark's own (a fine sleep or the next report).
func benchEvents(b *testing.B, hosts []HostConfig, rep model.Reporter, seen func(host, vm string, want model.VMState) bool, wait func()) {
	src := New(Options{Hosts: hosts, RefreshInterval: time.Hour}, rep, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- src.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	for deadline := time.Now().Add(60 * time.Second); ; wait() {
		all := true
		for h := range benchHosts {
			lastVM := benchHost(h, benchVMs)[benchVMs-1]
			if !seen(fmt.Sprintf("hv%02d", h), lastVM.Name, vmState(int32(lastVM.RunState))) {
				all = false
				break
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("fleet not in the model after 60 s")
		}
	}
	cold := time.Since(start)
	paused := make([]bool, benchHosts)
	i := 0
	b.ResetTimer()
	for b.Loop() {
		h := i % benchHosts
		i++
		name, vm := fmt.Sprintf("hv%02d", h), fmt.Sprintf("h%02d-vm000", h)
		lc, ok := src.byName[name].current().(*lvConn)
		if !ok {
			b.Fatalf("host %s not connected", name)
		}
		err := lc.call(context.Background(), "change "+vm, func() error {
			d, err := lc.l.DomainLookupByName(vm)
			if err != nil {
				return err
			}
			if paused[h] {
				return lc.l.DomainResume(d)
			}
			return lc.l.DomainSuspend(d)
		})
		if err != nil {
			b.Fatal(err)
		}
		want := model.VMPaused
		if paused[h] {
			want = model.VMRunning
		}
		paused[h] = !paused[h]
		for deadline := time.Now().Add(5 * time.Second); !seen(name, vm, want); wait() {
			if time.Now().After(deadline) {
				b.Fatalf("%s/%s not %s after 5 s", name, vm, want)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(cold.Seconds(), "s-cold-start")
}
