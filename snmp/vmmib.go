package snmp

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"mgmtd/model"
	"mgmtd/snmp/agentx"
)

// vmIndexer hands out RFC 7666 vmIndex values. A VM keeps its index for
// the life of the daemon and, when a state file is configured, across
// restarts. VMs are keyed by UUID (by host/name when the UUID is unknown).
type vmIndexer struct {
	mu    sync.Mutex
	path  string // empty: in memory only
	m     map[string]int32
	next  int32
	names map[string]model.VM // host/name -> last VM seen there, for VMs that vanished
}

func newVMIndexer(stateDir string) (*vmIndexer, error) {
	ix := &vmIndexer{m: map[string]int32{}, next: 1, names: map[string]model.VM{}}
	if stateDir == "" {
		return ix, nil
	}
	ix.path = filepath.Join(stateDir, "snmp-vmindex.json")
	b, err := os.ReadFile(ix.path)
	switch {
	case os.IsNotExist(err):
		return ix, nil
	case err != nil:
		return nil, fmt.Errorf("read vmIndex state: %w", err)
	}
	if err := json.Unmarshal(b, &ix.m); err != nil {
		return nil, fmt.Errorf("parse vmIndex state %s: %w", ix.path, err)
	}
	for _, v := range ix.m {
		if v >= ix.next {
			ix.next = v + 1
		}
	}
	return ix, nil
}

func vmKey(v model.VM) string {
	if v.UUID != "" {
		return "uuid:" + v.UUID
	}
	return "name:" + v.Host + "/" + v.Name
}

// assign returns the indexes of vms, allocating new ones in a stable order
// and persisting them when the set grew.
func (ix *vmIndexer) assign(vms []model.VM) (map[string]int32, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	keys := make([]string, 0, len(vms))
	for _, v := range vms {
		keys = append(keys, vmKey(v))
		ix.names[v.Host+"/"+v.Name] = v
	}
	slices.Sort(keys)
	grew := false
	for _, k := range keys {
		if _, ok := ix.m[k]; !ok && ix.next < math.MaxInt32 {
			ix.m[k] = ix.next
			ix.next++
			grew = true
		}
	}
	out := make(map[string]int32, len(keys))
	for _, k := range keys {
		out[k] = ix.m[k]
	}
	if grew && ix.path != "" {
		b, err := json.Marshal(ix.m)
		if err != nil {
			return out, fmt.Errorf("encode vmIndex state: %w", err)
		}
		tmp := ix.path + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return out, fmt.Errorf("write vmIndex state: %w", err)
		}
		if err := os.Rename(tmp, ix.path); err != nil {
			return out, fmt.Errorf("write vmIndex state: %w", err)
		}
	}
	return out, nil
}

// VM-MIB enumerations (RFC 7666 section 6).

func vmAdminState(s model.VMState) int {
	switch s {
	case model.VMPaused:
		return 3 // paused
	case model.VMPMSuspended:
		return 2 // suspended
	case model.VMShutdown, model.VMShutoff, model.VMCrashed:
		return 4 // shutdown
	}
	return 1 // running (also unknown: the host is unreachable, not the VM stopped)
}

func vmOperState(s model.VMState) int {
	switch s {
	case model.VMRunning, model.VMBlocked:
		return 4
	case model.VMPaused:
		return 8
	case model.VMShutdown:
		return 10
	case model.VMShutoff:
		return 11
	case model.VMCrashed:
		return 12
	case model.VMPMSuspended:
		return 6
	}
	return 1
}

// hypervisor finds the host the VM-MIB describes: the host named name, or
// the host that is cluster node name.
func hypervisor(s *model.Snapshot, name string) (model.Host, bool) {
	if h, ok := s.Host(name); ok {
		return h, true
	}
	for _, h := range s.Hosts {
		if h.Node != "" && h.Node == name {
			return h, true
		}
	}
	return model.Host{}, false
}

// vmMIBState is what the VM-MIB needs across builds: when the agent
// started (vmHvUpTime) and when vmTable last changed.
type vmMIBState struct {
	start      time.Time
	lastRows   string
	lastChange time.Time
}

func ticks(d time.Duration) agentx.Value {
	if d < 0 {
		d = 0
	}
	return agentx.TimeTicks(uint32(min(d.Milliseconds()/10, math.MaxUint32)))
}

// buildVMMIB adds the VM-MIB (RFC 7666) for the VMs on hostName. Values
// libvirt does not report to mgmtd are given as the MIB's "unknown" or
// "no limit" values; unknown counters are left out (noSuchInstance).
func (bd *builder) buildVMMIB(s *model.Snapshot, hostName string, ix *vmIndexer, st *vmMIBState, now time.Time) error {
	hv := VMMIBOID.Append(1, 1)
	h, ok := hypervisor(s, hostName)
	var vms []model.VM
	if ok {
		vms = s.VMsOn(h.Name)
	}
	software := h.Hypervisor
	if software == "" && ok {
		software = "libvirt"
	}
	bd.scalar(hv, 1, str(software))
	bd.scalar(hv, 2, str(h.LibvirtVersion))
	bd.scalar(hv, 3, agentx.ObjectID(agentx.OID{0, 0}))
	bd.scalar(hv, 4, ticks(now.Sub(st.start)))
	objs := VMMIBOID.Append(1)
	bd.scalar(objs, 2, agentx.Integer(int32(min(len(vms), math.MaxInt32))))

	idx, err := ix.assign(vms)
	entry := objs.Append(4, 1)
	for c := uint32(2); c <= 17; c++ {
		bd.b.AddObject(entry.Append(c))
	}
	bd.b.AddObject(objs.Append(5, 1, 2)) // vmCpuCoreTime
	for c := uint32(3); c <= 18; c++ {   // vmStorageParent .. vmStorageWriteLatency
		bd.b.AddObject(objs.Append(7, 1, c))
	}
	for c := uint32(2); c <= 5; c++ { // vmNetworkIfIndex .. vmNetworkPhysAddress
		bd.b.AddObject(objs.Append(8, 1, c))
	}
	rows := ""
	for _, v := range vms {
		i := idx[vmKey(v)]
		if i <= 0 {
			bd.omitted++
			continue
		}
		rows += fmt.Sprintf("%d|%s|%s|%d|%d|%t|%t;", i, v.Name, v.UUID, vmOperState(v.State), v.VCPUs, v.Persistent, v.Autostart)
		add := func(c uint32, val agentx.Value) { bd.b.Add(entry.Append(c, uint32(i)), val) }
		auto, pers := 3, 3
		if v.Autostart {
			auto = 2
		}
		if v.Persistent {
			pers = 2
		}
		add(2, str(v.Name))
		add(3, agentx.Octets(uuidBytes(v.UUID)))
		add(4, str(""))
		add(5, enum(vmAdminState(v.State)))
		add(6, enum(vmOperState(v.State)))
		add(7, enum(auto))
		add(8, enum(pers))
		add(9, agentx.Integer(int32(min(v.VCPUs, math.MaxInt32))))
		add(10, agentx.Integer(-1)) // libvirt has no minimum vCPU count
		add(11, orUnknown(int64(v.MaxVCPUs)))
		add(12, agentx.Integer(1024))
		add(13, agentx.Integer(int32(min(v.MemoryKiB, math.MaxInt32))))
		add(14, agentx.Integer(-1)) // nor a minimum memory size
		add(15, orUnknown(int64(min(v.MaxMemoryKiB, math.MaxInt32))))
		add(16, agentx.TimeTicks(0))
		add(17, agentx.Counter64(uint64(max(v.CPUTime.Microseconds(), 0))))
		bd.vmDevices(objs, uint32(i), v)
	}
	if rows != st.lastRows {
		st.lastRows = rows
		st.lastChange = now
	}
	bd.scalar(objs, 3, ticks(st.lastChange.Sub(st.start)))
	bd.scalar(objs, 9, truth(true))   // vmPerVMNotificationsEnabled: mgmtd sends them
	bd.scalar(objs, 10, truth(false)) // vmBulkNotificationsEnabled: bulk ones are not sent
	return err
}

// lookup returns the vmIndex already assigned to v and the last VM seen
// under v's host and name (which supplies the UUID of a VM that is gone).
func (ix *vmIndexer) lookup(v model.VM) (int32, model.VM, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	last, seen := ix.names[v.Host+"/"+v.Name]
	if v.UUID == "" && seen {
		v = last
	}
	i, ok := ix.m[vmKey(v)]
	return i, last, ok
}

// VM-MIB per-VM notifications (RFC 7666 section 6, vmNotifications).
const (
	vmTrapRunning      = 1
	vmTrapShuttingdown = 2
	vmTrapShutdown     = 3
	vmTrapPaused       = 4
	vmTrapSuspended    = 6
	vmTrapCrashed      = 9
	vmTrapDeleted      = 10
)

// vmNotification maps a VM event on the VM-MIB's hypervisor to the RFC
// 7666 per-VM notification, with vmName, vmUUID and vmOperState (and
// vmPersistent for vmDeleted) of the VM's vmTable row.
func vmNotification(s *model.Snapshot, hostName string, ix *vmIndexer, e model.Event) (agentx.OID, []agentx.VarBind, bool) {
	switch e.Type {
	case model.EventVMAppeared, model.EventVMGone, model.EventVMState, model.EventVMMigrated:
	default:
		return nil, nil, false
	}
	h, ok := hypervisor(s, hostName)
	if !ok || e.Node != h.Name {
		return nil, nil, false
	}
	vm := model.VM{Name: e.Object.Name, Host: h.Name, State: model.VMState(e.To)}
	for _, v := range s.VMsOn(h.Name) {
		if v.Name == e.Object.Name {
			vm = v
		}
	}
	idx, last, ok := ix.lookup(vm)
	if !ok {
		return nil, nil, false
	}
	if e.Type == model.EventVMGone {
		// The row is gone from the snapshot: report the last one seen.
		vm = last
		vm.State = model.VMShutoff
	}
	var trap uint32
	switch {
	case e.Type == model.EventVMGone:
		trap = vmTrapDeleted
	case vm.State == model.VMRunning || vm.State == model.VMBlocked:
		trap = vmTrapRunning
	case vm.State == model.VMShutdown:
		trap = vmTrapShuttingdown
	case vm.State == model.VMShutoff:
		trap = vmTrapShutdown
	case vm.State == model.VMPaused:
		trap = vmTrapPaused
	case vm.State == model.VMPMSuspended:
		trap = vmTrapSuspended
	case vm.State == model.VMCrashed:
		trap = vmTrapCrashed
	default:
		return nil, nil, false
	}
	entry := VMMIBOID.Append(1, 4, 1)
	i := uint32(idx)
	vbs := []agentx.VarBind{
		{Name: entry.Append(2, i), Value: str(vm.Name)},
		{Name: entry.Append(3, i), Value: agentx.Octets(uuidBytes(vm.UUID))},
		{Name: entry.Append(6, i), Value: enum(vmOperState(vm.State))},
	}
	if trap == vmTrapDeleted {
		pers := 3
		if vm.Persistent {
			pers = 2
		}
		vbs = append(vbs, agentx.VarBind{Name: entry.Append(8, i), Value: enum(pers)})
	}
	return VMMIBOID.Append(0, trap), vbs, true
}
