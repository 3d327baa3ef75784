package virt

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"mgmtd/internal/testutil"
)

// genDomain describes one test-driver domain to generate.
type genDomain struct {
	Name      string
	UUID      string
	VCPUs     uint
	MemoryKiB uint
	RunState  int // virDomainState, -1 for the driver's default (running)
	Transient bool
	Disks     []string // file-backed virtio disks vda, vdb ... with these source paths
	Networks  []string // virtio NICs on these libvirt networks, MACs 52:54:00:00:00:NN
}

// genDomainXML renders a domain with libvirtxml and adds the test driver's
// namespace elements, which libvirtxml does not model.
func genDomainXML(d genDomain) (string, error) {
	dom := libvirtxml.Domain{
		Type:          "test",
		Name:          d.Name,
		UUID:          d.UUID,
		Memory:        &libvirtxml.DomainMemory{Value: d.MemoryKiB, Unit: "KiB"},
		CurrentMemory: &libvirtxml.DomainCurrentMemory{Value: d.MemoryKiB, Unit: "KiB"},
		VCPU:          &libvirtxml.DomainVCPU{Value: d.VCPUs},
		OS:            &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: "x86_64", Type: "hvm"}},
		Devices:       &libvirtxml.DomainDeviceList{},
	}
	for i, src := range d.Disks {
		dom.Devices.Disks = append(dom.Devices.Disks, libvirtxml.DomainDisk{
			Device: "disk",
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: src}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vd" + string(rune('a'+i)), Bus: "virtio"},
		})
	}
	for i, net := range d.Networks {
		dom.Devices.Interfaces = append(dom.Devices.Interfaces, libvirtxml.DomainInterface{
			MAC:    &libvirtxml.DomainInterfaceMAC{Address: fmt.Sprintf("52:54:00:%s:00:%02x", d.UUID[len(d.UUID)-2:], i+1)},
			Source: &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: net}},
			Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
		})
	}
	s, err := dom.Marshal()
	if err != nil {
		return "", fmt.Errorf("marshal domain %s: %w", d.Name, err)
	}
	var ext []string
	if d.RunState >= 0 {
		ext = append(ext, fmt.Sprintf("  <test:runstate>%d</test:runstate>", d.RunState))
	}
	if d.Transient {
		ext = append(ext, "  <test:transient/>")
	}
	if len(ext) > 0 {
		s = strings.Replace(s, `<domain type="test">`, `<domain type="test" xmlns:test="`+testNS+`">`, 1)
		s = strings.Replace(s, "</domain>", strings.Join(ext, "\n")+"\n</domain>", 1)
	}
	return s, nil
}

// genNodeXML renders a test-driver host description.
func genNodeXML(cpus int, memKiB uint64, doms []genDomain) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("<node>\n")
	fmt.Fprintf(&b, "<cpu><mhz>2400</mhz><model>x86_64</model><active>%d</active><nodes>1</nodes><sockets>1</sockets><cores>%d</cores><threads>1</threads></cpu>\n", cpus, cpus)
	fmt.Fprintf(&b, "<memory>%d</memory>\n", memKiB)
	for _, d := range doms {
		s, err := genDomainXML(d)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
		b.WriteString("\n")
	}
	b.WriteString("</node>\n")
	return b.Bytes(), nil
}

// benchHost returns host number h of the benchmark fleet with n domains:
// two thirds running, the rest paused or shut off.
func benchHost(h, n int) []genDomain {
	doms := make([]genDomain, n)
	for i := range doms {
		st := stateRunning
		switch i % 6 {
		case 4:
			st = statePaused
		case 5:
			st = stateShutoff
		}
		doms[i] = genDomain{Name: fmt.Sprintf("h%02d-vm%03d", h, i), UUID: fmt.Sprintf("%08x-0000-4000-8000-%012x", h, i),
			VCPUs: uint(1 + i%4), MemoryKiB: uint(1048576 * (1 + i%8)), RunState: st}
	}
	return doms
}

// testdataFiles are the generated files under testdata/.
func testdataFiles() (map[string][]byte, error) {
	out := map[string][]byte{}
	a, err := genNodeXML(32, 134217728, []genDomain{
		{Name: "vm-db1", UUID: "11111111-0000-0000-0000-000000000001", VCPUs: 4, MemoryKiB: 8388608, RunState: -1,
			Disks: []string{"/var/lib/libvirt/images/vm-db1.qcow2", "/var/lib/libvirt/images/vm-db1-data.qcow2"}, Networks: []string{"default"}},
		{Name: "vm-web1", UUID: "11111111-0000-0000-0000-000000000002", VCPUs: 2, MemoryKiB: 4194304, RunState: statePaused},
		{Name: "vm-batch", UUID: "11111111-0000-0000-0000-000000000003", VCPUs: 1, MemoryKiB: 1048576, RunState: stateShutoff,
			Disks: []string{"/var/lib/libvirt/images/vm-batch.qcow2"}, Networks: []string{"default"}},
		{Name: "vm-crashed", UUID: "11111111-0000-0000-0000-000000000004", VCPUs: 1, MemoryKiB: 1048576, RunState: stateCrashed},
		{Name: "vm-transient", UUID: "11111111-0000-0000-0000-000000000005", VCPUs: 2, MemoryKiB: 2097152, RunState: -1, Transient: true},
	})
	if err != nil {
		return nil, err
	}
	out["host-a.xml"] = a
	b, err := genNodeXML(16, 67108864, []genDomain{
		{Name: "vm-app1", UUID: "22222222-0000-0000-0000-000000000001", VCPUs: 2, MemoryKiB: 2097152, RunState: stateRunning},
		{Name: "vm-app2", UUID: "22222222-0000-0000-0000-000000000002", VCPUs: 2, MemoryKiB: 2097152, RunState: stateRunning},
		{Name: "vm-idle", UUID: "22222222-0000-0000-0000-000000000003", VCPUs: 1, MemoryKiB: 524288, RunState: stateShutoff},
	})
	if err != nil {
		return nil, err
	}
	out["host-b.xml"] = b
	x, err := genDomainXML(genDomain{Name: "vm-extra", UUID: "33333333-0000-0000-0000-000000000001", VCPUs: 1, MemoryKiB: 262144, RunState: -1})
	if err != nil {
		return nil, err
	}
	out["dom-extra.xml"] = []byte(x + "\n")
	return out, nil
}

// TestGeneratedTestdata keeps the generated testdata files in step with
// their generator; -update rewrites them.
func TestGeneratedTestdata(t *testing.T) {
	files, err := testdataFiles()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		testutil.Golden(t, filepath.Join("testdata", name), want)
	}
}
