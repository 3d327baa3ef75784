package snmp

import (
	"errors"
	"time"

	"mgmtd/model"
)

// t0 is the fixed clock of the demo cluster, so golden files are stable.
var t0 = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

// demoParts is a small cluster: two member nodes, a guest node in a VM,
// an IP + web group, a promotable clone, a failed operation, a fencing
// entry, knet links, two hosts with VMs and a catalog service.
func demoParts() (*model.PacemakerPart, *model.CorosyncPart, *model.VirtPart, *model.ServicesPart) {
	pm := &model.PacemakerPart{
		Cluster: model.Cluster{Name: "democluster", Stack: "corosync", PacemakerVersion: "2.1.5",
			DC: "node1", Quorate: true, NoQuorumPolicy: "stop", StonithEnabled: true, SymmetricCluster: true,
			CIBEpoch: "0:42:7", LastChange: t0.Add(-time.Hour), NodesConfigured: 3, ResourcesConfigured: 7},
		Nodes: []model.Node{
			{Name: "node1", ID: "1", Type: model.NodeMember, State: model.NodeOnline, Online: true, DC: true, ResourcesRunning: 4},
			{Name: "node2", ID: "2", Type: model.NodeMember, State: model.NodeStandby, Online: true, Standby: true, ResourcesRunning: 1},
			{Name: "guest1", ID: "guest1", Type: model.NodeGuest, State: model.NodeOnline, Online: true, Container: "vm-guest1", ResourcesRunning: 0},
		},
		Resources: []model.Resource{
			{ID: "web-grp", Kind: model.KindGroup, Children: []string{"web-ip", "web-srv"}, Managed: true},
			{ID: "web-ip", Kind: model.KindPrimitive, Agent: "ocf:heartbeat:IPaddr2", Parent: "web-grp", Managed: true,
				Params: map[string]string{"ip": "192.0.2.10"}},
			{ID: "web-srv", Kind: model.KindPrimitive, Agent: "ocf:heartbeat:apache", Parent: "web-grp", Managed: true},
			{ID: "db-clone", Kind: model.KindPromotable, Children: []string{"db"}, Managed: true},
			{ID: "db", Kind: model.KindPrimitive, Agent: "ocf:heartbeat:pgsql", Parent: "db-clone", Managed: true, Failed: true},
			{ID: "vm-guest1", Kind: model.KindPrimitive, Agent: "ocf:heartbeat:VirtualDomain", Managed: true,
				GuestNode: "guest1", Domain: "guest1"},
			{ID: "fence-ipmi", Kind: model.KindPrimitive, Agent: "stonith:fence_ipmilan", Managed: true, TargetRole: "Started"},
		},
		Instances: []model.Instance{
			{Resource: "web-ip", Primitive: "web-ip", Top: "web-grp", Node: "node1", Role: model.RoleStarted, Active: true, Managed: true, Host: "node1"},
			{Resource: "web-srv", Primitive: "web-srv", Top: "web-grp", Node: "node1", Role: model.RoleStarted, Active: true, Managed: true, Host: "node1"},
			{Resource: "db", Primitive: "db", Top: "db-clone", Node: "node1", Role: model.RolePromoted, Active: true, Managed: true, Host: "node1"},
			{Resource: "db", Primitive: "db", Top: "db-clone", Node: "node2", Role: model.RoleUnpromoted, Active: true, Managed: true, Failed: true, FailCount: 2, Host: "node2"},
			{Resource: "vm-guest1", Primitive: "vm-guest1", Node: "node1", Role: model.RoleStarted, Active: true, Managed: true, Host: "node1"},
			{Resource: "fence-ipmi", Primitive: "fence-ipmi", Node: "", Role: model.RoleStopped, Managed: true},
		},
		Failures: []model.Failure{
			{Resource: "db", Node: "node2", Op: "monitor", Interval: "10000", RC: 7, RCText: "not running",
				Status: "complete", ExitReason: "process died", Call: 42, Time: t0.Add(-10 * time.Minute)},
		},
		Fencing: []model.FenceEvent{
			{Target: "node3", Action: "reboot", Status: "success", Delegate: "node1", Client: "pacemaker-controld",
				Origin: "node1", Completed: t0.Add(-24 * time.Hour)},
		},
	}
	cs := &model.CorosyncPart{Version: "3.1.7", Membership: model.Membership{ClusterName: "democluster", Transport: "knet",
		Quorate: true, ExpectedVotes: 2, TotalVotes: 2, Quorum: 1, TwoNode: true,
		Members: []model.Member{
			{NodeID: 1, Name: "node1", Status: "joined", Votes: 1, Local: true, Links: []model.Link{{Link: 0, Connected: true, Enabled: true}}},
			{NodeID: 2, Name: "node2", Status: "joined", Votes: 1, Links: []model.Link{
				{Link: 0, Connected: true, Enabled: true, LatencyAvg: 180},
				{Link: 1, Connected: false, Enabled: true, DownCount: 3}}},
		}}}
	vt := &model.VirtPart{
		Hosts: []model.Host{
			{Name: "node1", URI: "qemu:///system", Reachable: true, LibvirtVersion: "9.0.0", Hypervisor: "QEMU", CPUs: 8, MemoryKiB: 32 << 20, Node: "node1"},
			{Name: "node2", URI: "qemu+ssh://node2/system", Reachable: true, LibvirtVersion: "9.0.0", Hypervisor: "QEMU", CPUs: 8, MemoryKiB: 32 << 20, Node: "node2"},
		},
		VMs: []model.VM{
			{Name: "guest1", UUID: "6f1c6b4e-2a51-4b8e-9d0a-1b2c3d4e5f60", Host: "node1", State: model.VMRunning, VCPUs: 2,
				MemoryKiB: 2 << 20, Persistent: true, CPUTime: 90 * time.Second, MaxVCPUs: 4, MaxMemoryKiB: 4 << 20,
				CPUs: []model.VMCPU{{Index: 0, Time: 50 * time.Second}, {Index: 1, Time: 40 * time.Second}},
				Disks: []model.VMDisk{
					{Target: "vda", Device: "disk", Type: "file", Format: "qcow2", Source: "/var/lib/libvirt/images/guest1.qcow2",
						CapacityBytes: 20 << 30, AllocationBytes: 4 << 30, ReadRequests: 15000, ReadBytes: 600 << 20, WriteRequests: 4000, WriteBytes: 150 << 20},
					{Target: "sda", Device: "cdrom", Type: "file", Format: "raw", ReadOnly: true,
						CapacityBytes: -1, AllocationBytes: -1, ReadRequests: -1, ReadBytes: -1, WriteRequests: -1, WriteBytes: -1},
				},
				NICs: []model.VMNIC{{Target: "vnet0", MAC: "52:54:00:6f:1c:01", Type: "bridge", Source: "br0", Model: "virtio",
					RxBytes: 1 << 20, RxPackets: 900, TxBytes: 1 << 19, TxPackets: 700}}},
			{Name: "scratch", UUID: "0b7e3a52-8c1d-4f6e-a9b0-c1d2e3f40516", Host: "node1", State: model.VMShutoff, VCPUs: 1,
				MemoryKiB: 1 << 20, Persistent: true, Autostart: true,
				Disks: []model.VMDisk{{Target: "vda", Device: "disk", Type: "block", Source: "/dev/vg0/scratch",
					CapacityBytes: 1 << 30, AllocationBytes: 1 << 30, ReadRequests: -1, ReadBytes: -1, WriteRequests: -1, WriteBytes: -1}},
				NICs: []model.VMNIC{{MAC: "52:54:00:0b:7e:01", Type: "network", Source: "default",
					RxBytes: -1, RxPackets: -1, TxBytes: -1, TxPackets: -1}}},
			{Name: "guest1", UUID: "6f1c6b4e-2a51-4b8e-9d0a-1b2c3d4e5f60", Host: "node2", State: model.VMShutoff, VCPUs: 2,
				MemoryKiB: 2 << 20, Persistent: true},
		},
	}
	sv := &model.ServicesPart{Services: []model.Service{{Name: "web", Resources: []string{"web-ip", "web-srv"}, Address: "192.0.2.10", Method: model.MethodIPTakeover}}}
	return pm, cs, vt, sv
}

// demoStore returns a store holding the demo cluster, seen from node1.
func demoStore() *model.Store {
	st := model.NewStore(model.StoreOptions{Cluster: "democluster", View: "node1", Now: fixedNow})
	replayDemo(st)
	return st
}

// replayDemo reports the demo cluster to st.
func replayDemo(st *model.Store) {
	pm, cs, vt, sv := demoParts()
	st.Report(model.Report{Source: "pacemaker", Time: t0, Pacemaker: pm})
	st.Report(model.Report{Source: "corosync", Time: t0, Corosync: cs})
	st.Report(model.Report{Source: "libvirt", Time: t0, Virt: vt})
	st.Report(model.Report{Source: "catalog", Time: t0, Services: sv})
	st.Report(model.Report{Source: "libvirt-remote", Time: t0.Add(-time.Minute), Virt: &model.VirtPart{}})
	st.Report(model.Report{Source: "libvirt-remote", Time: t0, Err: errors.New("connect qemu+ssh://node3/system: connection refused")})
}
