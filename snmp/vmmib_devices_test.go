package snmp

import (
	"bytes"
	"testing"
	"time"

	"mgmtd/model"
	"mgmtd/snmp/agentx"
)

// TestVMDeviceTables checks vmCpuTable, vmStorageTable and vmNetworkTable
// for the demo's guest1 (vmIndex 2: running, two vCPUs, a qcow2 disk, a
// read-only CD-ROM without statistics, one NIC) and scratch (vmIndex 1:
// shut off, a block disk and a NIC without counters).
func TestVMDeviceTables(t *testing.T) {
	s := newTestServer(t, "unix:/nonexistent")
	tb, err := s.BuildTable(demoStore().Snapshot(), t0)
	if err != nil {
		t.Fatal(err)
	}
	objs := VMMIBOID.Append(1)
	cpu := func(c uint32, idx ...uint32) agentx.OID { return objs.Append(5, 1, c).Append(idx...) }
	stor := func(c uint32, idx ...uint32) agentx.OID { return objs.Append(7, 1, c).Append(idx...) }
	nw := func(c uint32, idx ...uint32) agentx.OID { return objs.Append(8, 1, c).Append(idx...) }
	tests := []struct {
		name string
		oid  agentx.OID
		want agentx.Value
	}{
		{"vmMaxCpuNumber.2", objs.Append(4, 1, 11, 2), agentx.Integer(4)},
		{"vmMaxCpuNumber.1 unknown", objs.Append(4, 1, 11, 1), agentx.Integer(-1)},
		{"vmMaxMem.2 (KiB)", objs.Append(4, 1, 15, 2), agentx.Integer(4 << 20)},
		{"vmMinMem.2 no minimum", objs.Append(4, 1, 14, 2), agentx.Integer(-1)},
		{"vmCpuCoreTime.2.1 (µs)", cpu(2, 2, 1), agentx.Counter64(50_000_000)},
		{"vmCpuCoreTime.2.2", cpu(2, 2, 2), agentx.Counter64(40_000_000)},
		{"vmStorageParent.2.1", stor(3, 2, 1), agentx.Integer(0)},
		{"vmStorageSourceType.2.1 qcow2 file: other", stor(4, 2, 1), agentx.Integer(2)},
		{"vmStorageSourceType.2.2 raw file: raw", stor(4, 2, 2), agentx.Integer(4)},
		{"vmStorageSourceType.1.1 block", stor(4, 1, 1), agentx.Integer(3)},
		{"vmStorageSourceTypeString.2.1", stor(5, 2, 1), str("file/qcow2")},
		{"vmStorageResourceID.2.1", stor(6, 2, 1), str("/var/lib/libvirt/images/guest1.qcow2")},
		{"vmStorageAccess.2.1 readwrite", stor(7, 2, 1), agentx.Integer(2)},
		{"vmStorageAccess.2.2 readonly", stor(7, 2, 2), agentx.Integer(3)},
		{"vmStorageMediaType.2.1 hardDisk", stor(8, 2, 1), agentx.Integer(3)},
		{"vmStorageMediaType.2.2 opticalDisk", stor(8, 2, 2), agentx.Integer(4)},
		{"vmStorageMediaTypeString.2.2", stor(9, 2, 2), str("cdrom")},
		{"vmStorageSizeUnit.2.1 KiB (20 GiB does not fit bytes)", stor(10, 2, 1), agentx.Integer(1024)},
		{"vmStorageDefinedSize.2.1", stor(11, 2, 1), agentx.Integer(20 << 20)},
		{"vmStorageAllocatedSize.2.1", stor(12, 2, 1), agentx.Integer(4 << 20)},
		{"vmStorageDefinedSize.2.2 unknown", stor(11, 2, 2), agentx.Integer(-1)},
		{"vmStorageSizeUnit.1.1 bytes", stor(10, 1, 1), agentx.Integer(1)},
		{"vmStorageDefinedSize.1.1", stor(11, 1, 1), agentx.Integer(1 << 30)},
		{"vmStorageReadIOs.2.1", stor(13, 2, 1), agentx.Counter64(15000)},
		{"vmStorageWriteIOs.2.1", stor(14, 2, 1), agentx.Counter64(4000)},
		{"vmStorageReadOctets.2.1", stor(15, 2, 1), agentx.Counter64(600 << 20)},
		{"vmStorageWriteOctets.2.1", stor(16, 2, 1), agentx.Counter64(150 << 20)},
		{"vmNetworkIfIndex.2.1", nw(2, 2, 1), agentx.Integer(0)},
		{"vmNetworkParent.2.1", nw(3, 2, 1), agentx.Integer(0)},
		{"vmNetworkModel.2.1", nw(4, 2, 1), str("virtio")},
		{"vmNetworkModel.1.1 default", nw(4, 1, 1), str("")},
		{"vmNetworkPhysAddress.2.1", nw(5, 2, 1), agentx.Octets([]byte{0x52, 0x54, 0, 0x6f, 0x1c, 1})},
		{"vmNetworkPhysAddress.1.1", nw(5, 1, 1), agentx.Octets([]byte{0x52, 0x54, 0, 0x0b, 0x7e, 1})},
	}
	for _, tc := range tests {
		got, ok := tb.Lookup(tc.oid)
		if !ok || got.Type != tc.want.Type || got.Num != tc.want.Num || !bytes.Equal(got.Bytes, tc.want.Bytes) {
			t.Errorf("%s (%v) = %+v (present %v), want %+v", tc.name, tc.oid, got, ok, tc.want)
		}
	}
	for _, absent := range []struct {
		name string
		oid  agentx.OID
	}{
		{"vmCpuCoreTime of the shut-off VM", cpu(2, 1, 1)},
		{"vmStorageReadIOs of an unknown counter", stor(13, 2, 2)},
		{"vmStorageReadOctets of a shut-off VM", stor(15, 1, 1)},
		{"vmStorageReadLatency (not read)", stor(17, 2, 1)},
		{"a third disk", stor(3, 2, 3)},
		{"a second NIC", nw(2, 2, 2)},
	} {
		if v, ok := tb.Lookup(absent.oid); ok {
			t.Errorf("%s (%v) = %+v, want no instance", absent.name, absent.oid, v)
		}
	}
}

func TestVMDeviceMappings(t *testing.T) {
	for _, tc := range []struct {
		disk model.VMDisk
		want int
	}{
		{model.VMDisk{Type: "file", Format: "raw"}, storageRaw},
		{model.VMDisk{Type: "file", Format: "qcow2"}, storageOther},
		{model.VMDisk{Type: "file"}, storageOther},
		{model.VMDisk{Type: "block", Format: "raw"}, storageBlock},
		{model.VMDisk{Type: "network"}, storageNetwork},
		{model.VMDisk{Type: "volume"}, storageOther},
		{model.VMDisk{}, storageUnknown},
	} {
		if got := storageSourceType(tc.disk); got != tc.want {
			t.Errorf("storageSourceType(%+v) = %d, want %d", tc.disk, got, tc.want)
		}
	}
	for dev, want := range map[string]int{"disk": 3, "lun": 3, "cdrom": 4, "floppy": 5, "": 2, "tape": 1} {
		if got := storageMediaType(dev); got != want {
			t.Errorf("storageMediaType(%q) = %d, want %d", dev, got, want)
		}
	}
	for _, tc := range []struct {
		capacity, allocation int64
		unit                 int32
		defined, allocated   int32
	}{
		{1 << 30, 1 << 20, 1, 1 << 30, 1 << 20},
		{-1, -1, 1, -1, -1},
		{2 << 30, -1, 1024, 2 << 20, -1},
		{3 << 40, 1 << 40, 1 << 20, 3 << 20, 1 << 20},
		{1 << 62, 5, 1 << 30, 1<<31 - 1, 0}, // larger than Integer32 in GiB: capped
	} {
		unit, d, a := sizeUnit(tc.capacity, tc.allocation)
		wantD := tc.defined
		if unit != tc.unit || d.Int() != wantD || a.Int() != tc.allocated {
			t.Errorf("sizeUnit(%d, %d) = %d, %d, %d; want %d, %d, %d", tc.capacity, tc.allocation, unit, d.Int(), a.Int(), tc.unit, wantD, tc.allocated)
		}
	}
	for mac, want := range map[string][]byte{
		"52:54:00:ab:cd:ef": {0x52, 0x54, 0, 0xab, 0xcd, 0xef},
		"":                  {},
		"52:54:00:ab:cd":    {},
		"zz:54:00:ab:cd:ef": {},
		"5254:00:ab:cd:ef0": {},
	} {
		if got := macBytes(mac); !bytes.Equal(got, want) {
			t.Errorf("macBytes(%q) = %x, want %x", mac, got, want)
		}
	}
	// A duplicate vCPU number is one row, and counted as omitted.
	bd := newBuilder()
	bd.vmDevices(VMMIBOID.Append(1), 1, model.VM{CPUs: []model.VMCPU{{Index: 0, Time: time.Second}, {Index: 0, Time: time.Second}, {Index: -1}}})
	if bd.b.Len() != 1 || bd.omitted != 2 {
		t.Errorf("duplicate/negative vCPUs: %d instances, %d omitted; want 1 and 2", bd.b.Len(), bd.omitted)
	}
}
