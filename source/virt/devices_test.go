package virt

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/google/go-cmp/cmp"

	"mgmtd/model"
)

// unknownDisk and unknownNIC are devices as the XML alone describes them.
func unknownDisk(target, typ, source string) model.VMDisk {
	return model.VMDisk{Target: target, Device: "disk", Type: typ, Source: source,
		CapacityBytes: -1, AllocationBytes: -1, ReadRequests: -1, ReadBytes: -1, WriteRequests: -1, WriteBytes: -1}
}

func unknownNIC(target, mac, typ, source, modelName string) model.VMNIC {
	return model.VMNIC{Target: target, MAC: mac, Type: typ, Source: source, Model: modelName,
		RxBytes: -1, RxPackets: -1, TxBytes: -1, TxPackets: -1}
}

func TestParseDomainDevices(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string // file under testdata/ or, starting with '<', the document
		want    domainDevices
		wantErr bool
	}{
		{name: "virsh dumpxml of test:///default's domain", in: "dumpxml-default-test.xml", want: domainDevices{
			MaxVCPUs: 2, MaxMemoryKiB: 8388608,
			Disks: []model.VMDisk{unknownDisk("vda", "file", "/guest/diskimage1")},
			NICs:  []model.VMNIC{unknownNIC("testnet0", "aa:bb:cc:dd:ee:ff", "network", "default", "")},
		}},
		{name: "generated domain without devices", in: "dom-extra.xml", want: domainDevices{MaxVCPUs: 1, MaxMemoryKiB: 262144}},
		{name: "every source kind", in: `<domain type="kvm"><memory unit="GiB">2</memory><vcpu current="1">4</vcpu><devices>
			<disk type="block" device="lun"><source dev="/dev/sdb"/><target dev="sda"/></disk>
			<disk type="network"><source protocol="rbd" name="pool/img"/><target dev="vdb"/></disk>
			<disk type="volume"><source pool="default" volume="v1"/><target dev="vdc"/></disk>
			<disk type="file" device="cdrom"><driver name="qemu" type="raw"/><target dev="hdc"/><readonly/></disk>
			<interface type="bridge"><mac address="52:54:00:AB:CD:EF"/><source bridge="br0"/><model type="e1000"/></interface>
			<interface type="direct"><source dev="eth0" mode="vepa"/><target dev="macvtap0"/></interface>
			</devices></domain>`, want: domainDevices{
			MaxVCPUs: 4, MaxMemoryKiB: 2097152,
			Disks: []model.VMDisk{
				{Target: "sda", Device: "lun", Type: "block", Source: "/dev/sdb", CapacityBytes: -1, AllocationBytes: -1, ReadRequests: -1, ReadBytes: -1, WriteRequests: -1, WriteBytes: -1},
				unknownDisk("vdb", "network", "rbd:pool/img"),
				unknownDisk("vdc", "volume", "default/v1"),
				{Target: "hdc", Device: "cdrom", Type: "file", Format: "raw", ReadOnly: true, CapacityBytes: -1, AllocationBytes: -1, ReadRequests: -1, ReadBytes: -1, WriteRequests: -1, WriteBytes: -1},
			},
			NICs: []model.VMNIC{
				unknownNIC("", "52:54:00:ab:cd:ef", "bridge", "br0", "e1000"),
				unknownNIC("macvtap0", "", "direct", "eth0", ""),
			},
		}},
		{name: "not a domain", in: `<node/>`, wantErr: true},
		{name: "bad vcpu", in: `<domain><vcpu>two</vcpu></domain>`, wantErr: true},
		{name: "bad memory unit", in: `<domain><memory unit="parsecs">1</memory></domain>`, wantErr: true},
		{name: "truncated", in: `<domain><devices><disk>`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			if tc.in[0] != '<' {
				in = readFile(t, filepath.Join("testdata", tc.in))
			}
			got, err := parseDomainDevices(in)
			if tc.wantErr {
				var xe *XMLError
				if !errors.As(err, &xe) {
					t.Fatalf("err = %v, want an *XMLError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestDeviceStats feeds the vcpu, balloon, block and interface groups of
// virConnectGetAllDomainStats, as a QEMU host reports them, through
// statsByUUID and onto the devices from the XML.
func TestDeviceStats(t *testing.T) {
	p := func(f string, v any) libvirt.TypedParam {
		return libvirt.TypedParam{Field: f, Value: libvirt.TypedParamValue{I: v}}
	}
	u := libvirt.UUID{7}
	st := statsByUUID([]libvirt.DomainStatsRecord{{Dom: libvirt.Domain{Name: "q", UUID: u}, Params: []libvirt.TypedParam{
		p("state.state", int32(1)), p("vcpu.current", uint32(2)), p("vcpu.maximum", uint32(8)),
		p("vcpu.1.state", int32(1)), p("vcpu.1.time", uint64(2000)), p("vcpu.0.time", uint64(1000)),
		p("balloon.maximum", uint64(4194304)),
		p("block.count", uint32(2)),
		p("block.0.name", "vda"), p("block.0.path", "/img/q.qcow2"),
		p("block.0.rd.reqs", uint64(10)), p("block.0.rd.bytes", uint64(4096)),
		p("block.0.wr.reqs", uint64(3)), p("block.0.wr.bytes", uint64(1536)),
		p("block.0.allocation", uint64(1<<20)), p("block.0.capacity", uint64(1<<30)),
		p("block.1.name", "hdc"), // an empty CD-ROM: no counters
		p("net.count", uint32(1)),
		p("net.0.name", "vnet3"), p("net.0.rx.bytes", uint64(900)), p("net.0.rx.pkts", uint64(9)),
		p("net.0.tx.bytes", uint64(700)), p("net.0.tx.pkts", uint64(7)), p("net.0.rx.errs", uint64(0)),
		p("block.x.name", "junk"), p("vcpu.-1.time", uint64(5)), p("net", uint64(1)),
	}}})[u]
	disks := []model.VMDisk{unknownDisk("vda", "file", "/img/q.qcow2"), unknownDisk("hdc", "file", ""), unknownDisk("vdz", "file", "/gone")}
	nics := []model.VMNIC{unknownNIC("vnet3", "52:54:00:00:00:01", "network", "default", "virtio"), unknownNIC("", "52:54:00:00:00:02", "network", "default", "")}
	hb, hn := st.dev.apply(disks, nics)
	if !hb || !hn {
		t.Errorf("apply = %v, %v, want both groups present", hb, hn)
	}
	wantDisks := []model.VMDisk{
		{Target: "vda", Device: "disk", Type: "file", Source: "/img/q.qcow2", CapacityBytes: 1 << 30, AllocationBytes: 1 << 20,
			ReadRequests: 10, ReadBytes: 4096, WriteRequests: 3, WriteBytes: 1536},
		unknownDisk("hdc", "file", ""), unknownDisk("vdz", "file", "/gone"),
	}
	wantNICs := []model.VMNIC{
		{Target: "vnet3", MAC: "52:54:00:00:00:01", Type: "network", Source: "default", Model: "virtio", RxBytes: 900, RxPackets: 9, TxBytes: 700, TxPackets: 7},
		unknownNIC("", "52:54:00:00:00:02", "network", "default", ""),
	}
	if diff := cmp.Diff(wantDisks, disks); diff != "" {
		t.Errorf("disks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantNICs, nics); diff != "" {
		t.Errorf("NICs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]model.VMCPU{{Index: 0, Time: 1000}, {Index: 1, Time: 2000}}, st.dev.cpus()); diff != "" {
		t.Errorf("CPUs (-want +got):\n%s", diff)
	}
	if st.dev.maxVCPUs != 8 || st.dev.maxMemKiB != 4194304 {
		t.Errorf("max vCPUs %d, max memory %d, want 8 and 4194304", st.dev.maxVCPUs, st.dev.maxMemKiB)
	}
	// The test driver's statistics: state only, so the caller asks per device.
	st = statsByUUID([]libvirt.DomainStatsRecord{{Dom: libvirt.Domain{UUID: u}, Params: []libvirt.TypedParam{p("state.state", int32(1))}}})[u]
	if hb, hn := st.dev.apply(disks, nics); hb || hn || st.dev.cpus() != nil {
		t.Errorf("state-only statistics: apply = %v, %v, cpus %v; want nothing", hb, hn, st.dev.cpus())
	}
}

func TestUnknownCounters(t *testing.T) {
	disks := []model.VMDisk{{Target: "vda", CapacityBytes: 5, AllocationBytes: 4, ReadRequests: 1, ReadBytes: 2, WriteRequests: 3, WriteBytes: 4}}
	nics := []model.VMNIC{{MAC: "m", RxBytes: 1, RxPackets: 2, TxBytes: 3, TxPackets: 4}}
	d, n := unknownCounters(disks, nics)
	want := []model.VMDisk{{Target: "vda", CapacityBytes: 5, AllocationBytes: 4, ReadRequests: -1, ReadBytes: -1, WriteRequests: -1, WriteBytes: -1}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("disks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]model.VMNIC{{MAC: "m", RxBytes: -1, RxPackets: -1, TxBytes: -1, TxPackets: -1}}, n); diff != "" {
		t.Errorf("NICs (-want +got):\n%s", diff)
	}
	if disks[0].ReadBytes != 2 || nics[0].RxBytes != 1 {
		t.Error("unknownCounters changed its input")
	}
}

func FuzzParseDomainDevices(f *testing.F) {
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseDomainDevices(b)
		if err != nil {
			var xe *XMLError
			if !errors.As(err, &xe) {
				t.Fatalf("error %v is not an *XMLError", err)
			}
			return
		}
		for _, k := range d.Disks {
			if k.ReadBytes != -1 || k.CapacityBytes != -1 || k.Device == "" {
				t.Fatalf("disk from XML alone = %+v", k)
			}
		}
		for _, n := range d.NICs {
			if n.RxBytes != -1 || n.TxPackets != -1 {
				t.Fatalf("NIC from XML alone = %+v", n)
			}
		}
		if d.MaxVCPUs < 0 {
			t.Fatalf("max vCPUs %d", d.MaxVCPUs)
		}
	})
}

// TestLibvirtdDevices reads host-a.xml (vm-db1 running with two disks and
// a NIC, vm-batch shut off with one of each) and test:///default's domain
// from real libvirtds: the device lists come from the domain XML, the
// counters from the test driver's per-device calls (it has no bulk
// block/interface statistics).
func TestLibvirtdDevices(t *testing.T) {
	tmp := t.TempDir()
	d1 := startLibvirtd(t, filepath.Join(tmp, "h1"))
	hostA := abs(t, "testdata/host-a.xml")
	r := startReal(t, integrationOptions(
		HostConfig{Name: "hv1", URI: d1.uri(hostA)},
		HostConfig{Name: "hv2", URI: d1.uri("/default")},
	))
	s := waitSnapshot(t, r.store, 5*time.Second, "both hosts reachable", bothReachable)

	db, ok := vmIn(s, "hv1", "vm-db1")
	if !ok {
		t.Fatal("vm-db1 missing")
	}
	if db.MaxVCPUs != 4 || db.MaxMemoryKiB != 8388608 {
		t.Errorf("vm-db1 max vCPUs %d, max memory %d; want 4, 8388608", db.MaxVCPUs, db.MaxMemoryKiB)
	}
	if len(db.CPUs) != 4 {
		t.Errorf("vm-db1 CPUs = %+v, want 4 vCPUs", db.CPUs)
	}
	for i, c := range db.CPUs {
		if c.Index != i || c.Time <= 0 {
			t.Errorf("vm-db1 vCPU %d = %+v, want index %d with CPU time", i, c, i)
		}
	}
	wantSrc := []string{"/var/lib/libvirt/images/vm-db1.qcow2", "/var/lib/libvirt/images/vm-db1-data.qcow2"}
	if len(db.Disks) != len(wantSrc) {
		t.Fatalf("vm-db1 disks = %+v, want %d", db.Disks, len(wantSrc))
	}
	for i, k := range db.Disks {
		if k.Target != []string{"vda", "vdb"}[i] || k.Source != wantSrc[i] || k.Type != "file" || k.Device != "disk" {
			t.Errorf("vm-db1 disk %d = %+v", i, k)
		}
		if k.CapacityBytes <= 0 || k.AllocationBytes <= 0 || k.ReadRequests < 0 || k.ReadBytes < 0 || k.WriteRequests < 0 || k.WriteBytes < 0 {
			t.Errorf("vm-db1 disk %s counters unknown: %+v", k.Target, k)
		}
	}
	if len(db.NICs) != 1 || db.NICs[0].MAC != "52:54:00:01:00:01" || db.NICs[0].Source != "default" || db.NICs[0].Type != "network" || db.NICs[0].Model != "virtio" {
		t.Errorf("vm-db1 NICs = %+v", db.NICs)
	}

	batch, _ := vmIn(s, "hv1", "vm-batch")
	if batch.State != model.VMShutoff || len(batch.CPUs) != 0 || len(batch.Disks) != 1 || len(batch.NICs) != 1 {
		t.Fatalf("vm-batch = %+v, want shut off with one disk, one NIC, no vCPU times", batch)
	}
	if k := batch.Disks[0]; k.ReadBytes != -1 || k.CapacityBytes != -1 || k.Source != "/var/lib/libvirt/images/vm-batch.qcow2" {
		t.Errorf("shut-off disk = %+v, want the source with unknown (-1) counters", k)
	}

	test, _ := vmIn(s, "hv2", "test")
	if len(test.Disks) != 1 || test.Disks[0].Target != "vda" || test.Disks[0].Source != "/guest/diskimage1" || test.Disks[0].ReadBytes < 0 {
		t.Errorf("test:///default disks = %+v", test.Disks)
	}
	if len(test.NICs) != 1 || test.NICs[0].Target != "testnet0" || test.NICs[0].MAC != "aa:bb:cc:dd:ee:ff" || test.NICs[0].RxBytes < 0 || test.NICs[0].TxPackets < 0 {
		t.Errorf("test:///default NICs = %+v", test.NICs)
	}
	if len(test.CPUs) != 2 {
		t.Errorf("test:///default CPUs = %+v", test.CPUs)
	}

	// Event re-reads reuse a domain's devices while its ID is unchanged; a
	// stop and a start change it, so the devices are read again.
	uri := d1.uri("/default")
	virsh(t, uri, "destroy", "test")
	s = waitSnapshot(t, r.store, 5*time.Second, "test shut off", func(s *model.Snapshot) bool {
		v, _ := vmIn(s, "hv2", "test")
		return v.State == model.VMShutoff
	})
	if v, _ := vmIn(s, "hv2", "test"); len(v.CPUs) != 0 || len(v.Disks) != 1 || v.Disks[0].ReadBytes != -1 || len(v.NICs) != 1 || v.NICs[0].RxBytes != -1 {
		t.Errorf("after destroy: %+v, want the devices with unknown counters and no vCPU times", v)
	}
	virsh(t, uri, "start", "test")
	s = waitSnapshot(t, r.store, 5*time.Second, "test running", func(s *model.Snapshot) bool {
		v, _ := vmIn(s, "hv2", "test")
		return v.State == model.VMRunning
	})
	if v, _ := vmIn(s, "hv2", "test"); len(v.CPUs) != 2 || len(v.Disks) != 1 || v.Disks[0].ReadBytes < 0 || len(v.NICs) != 1 || v.NICs[0].RxBytes < 0 {
		t.Errorf("after start: %+v, want counters again", v)
	}
}
