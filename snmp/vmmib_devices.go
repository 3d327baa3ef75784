package snmp

import (
	"encoding/hex"
	"math"
	"strings"

	"mgmtd/model"
	"mgmtd/snmp/agentx"
)

// orUnknown is an Integer32 VM-MIB value where -1 means unknown (or no
// limit): n when positive, else -1.
func orUnknown(n int64) agentx.Value {
	if n <= 0 {
		return agentx.Integer(-1)
	}
	return agentx.Integer(int32(min(n, math.MaxInt32)))
}

// VM-MIB VirtualMachineStorageSourceType.
const (
	storageUnknown = 1
	storageOther   = 2
	storageBlock   = 3
	storageRaw     = 4
	storageNetwork = 6
)

// storageSourceType maps libvirt's disk type and image format. A file is
// raw(4) only with the raw format; qcow2 and other image formats are
// other(2) (sparse(5) would claim more than libvirt says).
func storageSourceType(d model.VMDisk) int {
	switch d.Type {
	case "":
		return storageUnknown
	case "block":
		return storageBlock
	case "network":
		return storageNetwork
	case "file":
		if d.Format == "raw" {
			return storageRaw
		}
	}
	return storageOther
}

// storageMediaType is IANAStorageMediaType (RFC 7666, erratum 4710
// numbering) for libvirt's disk device.
func storageMediaType(device string) int {
	switch device {
	case "disk", "lun":
		return 3 // hardDisk
	case "cdrom":
		return 4 // opticalDisk
	case "floppy":
		return 5 // floppyDisk
	case "":
		return 2 // unknown
	}
	return 1 // other
}

// sizeUnit picks the smallest power-of-1024 unit in which both sizes fit
// an Integer32, and returns the unit and the sizes in it (-1 unknown).
func sizeUnit(capacity, allocation int64) (unit int32, defined, allocated agentx.Value) {
	units := []int64{1, 1 << 10, 1 << 20, 1 << 30}
	u := units[len(units)-1]
	for _, c := range units {
		if capacity/c <= math.MaxInt32 && allocation/c <= math.MaxInt32 {
			u = c
			break
		}
	}
	in := func(n int64) agentx.Value {
		if n < 0 {
			return agentx.Integer(-1)
		}
		return agentx.Integer(int32(min(n/u, math.MaxInt32)))
	}
	return int32(u), in(capacity), in(allocation)
}

// counter64 is a Counter64 for a known (non-negative) model counter.
func counter64(n int64) (agentx.Value, bool) {
	if n < 0 {
		return agentx.Counter64(0), false
	}
	return agentx.Counter64(uint64(n)), true
}

// macBytes parses aa:bb:cc:dd:ee:ff; anything else is an empty PhysAddress.
func macBytes(mac string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(mac, ":", ""))
	if err != nil || len(mac) != 17 {
		return []byte{}
	}
	return b
}

// vmDevices adds the vmCpuTable, vmStorageTable and vmNetworkTable rows
// of the VM with vmIndex i. Storage and network indexes are the device's
// position in the domain XML, from 1; vmCpuIndex is the vCPU number + 1.
// vmStorageParent, vmNetworkIfIndex and vmNetworkParent are 0: mgmtd reads
// libvirt remotely and cannot point into the hypervisor's hrStorageTable or
// ifTable. Unknown counters and the latencies (not read) are absent.
func (bd *builder) vmDevices(objs agentx.OID, i uint32, v model.VM) {
	seen := map[int]bool{}
	for _, c := range v.CPUs {
		if c.Index < 0 || c.Index >= math.MaxInt32 || seen[c.Index] {
			bd.omitted++
			continue
		}
		seen[c.Index] = true
		bd.b.Add(objs.Append(5, 1, 2, i, uint32(c.Index)+1), agentx.Counter64(uint64(max(c.Time.Microseconds(), 0))))
	}
	for n, d := range v.Disks {
		k := uint32(n + 1)
		add := func(c uint32, val agentx.Value) { bd.b.Add(objs.Append(7, 1, c, i, k), val) }
		typ := d.Type
		if d.Format != "" {
			typ += "/" + d.Format
		}
		access := 2 // readwrite
		if d.ReadOnly {
			access = 3
		}
		unit, defined, allocated := sizeUnit(d.CapacityBytes, d.AllocationBytes)
		add(3, agentx.Integer(0))
		add(4, enum(storageSourceType(d)))
		add(5, str(typ))
		add(6, str(d.Source))
		add(7, enum(access))
		add(8, enum(storageMediaType(d.Device)))
		add(9, str(d.Device))
		add(10, agentx.Integer(unit))
		add(11, defined)
		add(12, allocated)
		for c, n := range []int64{d.ReadRequests, d.WriteRequests, d.ReadBytes, d.WriteBytes} {
			if val, ok := counter64(n); ok {
				add(13+uint32(c), val)
			}
		}
	}
	for n, nic := range v.NICs {
		k := uint32(n + 1)
		add := func(c uint32, val agentx.Value) { bd.b.Add(objs.Append(8, 1, c, i, k), val) }
		add(2, agentx.Integer(0))
		add(3, agentx.Integer(0))
		add(4, str(nic.Model))
		add(5, agentx.Octets(macBytes(nic.MAC)))
	}
}
