package cim_test

import (
	"strings"
	"testing"

	"mgmtd/wbem/wbemtest"
)

// TestModelWbemcli drives the model provider with the real sblim-wbemcli
// (ei, ein, gi, ai, ain, ri, rin, gc, ec, ecn, gp, cm) over loopback HTTP.
func TestModelWbemcli(t *testing.T) {
	env := newModelEnv(t, nil)
	base := "http://" + mUser + ":" + mPass + "@" + env.hostport + "/"
	hv1 := base + `root/cimv2:MGMTD_ComputerSystem.CreationClassName="MGMTD_ComputerSystem",Name="hv1"`
	web := base + `root/cimv2:MGMTD_ResourceGroup.SystemCreationClassName="MGMTD_Cluster",SystemName="demo",CreationClassName="MGMTD_ResourceGroup",Name="web"`
	vip := base + `root/cimv2:MGMTD_ClusterResource.SystemCreationClassName="MGMTD_Cluster",SystemName="demo",CreationClassName="MGMTD_ClusterResource",Name="vip-db"`
	tests := []struct {
		name string
		args []string
		code int
		want []string // fragments that must appear, in order
	}{
		{"ecn", []string{"ecn", base + "root/cimv2:CIM_ComputerSystem"}, 0, []string{"/root/cimv2:CIM_Cluster\n", "/root/cimv2:MGMTD_Cluster\n", "/root/cimv2:MGMTD_ComputerSystem\n"}},
		{"ec", []string{"ec", base + "root/cimv2:CIM_Service"}, 0, []string{"/root/cimv2:CIM_ClusteringService ", "/root/cimv2:MGMTD_ClusterResource InstanceID=,", "ResourceKind=,Agent=,"}},
		{"gc", []string{"gc", base + "root/cimv2:MGMTD_ParticipatingCS"}, 0, []string{"/root/cimv2:MGMTD_ParticipatingCS Antecedent=,Dependent=,StateOfNode=,RoleOfNode=,OtherRoleOfNode=,Votes=,IsDC=\n"}},
		{"ein", []string{"ein", base + "root/cimv2:MGMTD_ComputerSystem"}, 0, []string{
			`/root/cimv2:MGMTD_ComputerSystem.CreationClassName="MGMTD_ComputerSystem",Name="app1"` + "\n",
			`Name="build01"` + "\n", `Name="hv1"` + "\n", `Name="hv2"` + "\n", `Name="hv3"` + "\n", `Name="scratch"` + "\n", `Name="vm-app"` + "\n"}},
		{"ei", []string{"ei", base + "root/cimv2:MGMTD_Cluster"}, 0, []string{`/root/cimv2:MGMTD_Cluster.CreationClassName="MGMTD_Cluster",Name="demo" Caption="Pacemaker cluster demo",ElementName="demo",Name="demo",OperationalStatus=2,HealthState=5,EnabledState=2,`, `ClusterState=2,Quorate=TRUE,DCNode="hv1",`}},
		{"gi", []string{"gi", hv1}, 0, []string{`Name="hv1",OperationalStatus=2,HealthState=5,EnabledState=2,RequestedState=2,`, `IsClusterNode=TRUE,NodeType=2,NodeState=2,`, `IsHypervisor=TRUE,HypervisorURI="qemu+tls://hv1/system",`}},
		{"gi property list", []string{"gi", hv1, "NodeState,IsHypervisor"}, 0, []string{`,Name="hv1" NodeState=2,IsHypervisor=TRUE` + "\n"}},
		{"gp", []string{"gp", hv1, "NodeState"}, 0, []string{"2\n"}},
		{"ai", []string{"ai", "-ac", "MGMTD_HostedDependency", hv1}, 0, []string{`testhost/root/cimv2:MGMTD_ComputerSystem.CreationClassName="MGMTD_ComputerSystem",Name="vm-app" `, `IsVirtualSystem=TRUE,UUID="d6d2edd3-2042-40c6-8204-edd3204260c6",DomainState=2,HostSystem="hv1",ManagingResource="vm-app",GuestNode="app1"`}},
		{"ain", []string{"ain", "-ac", "MGMTD_ResourceActiveOn", hv1}, 0, []string{`,Name="app1"` + "\n", `,Name="db"` + "\n", `,Name="vip-db"` + "\n", `,Name="vm-app"` + "\n"}},
		{"ain group", []string{"ain", "-ac", "CIM_ServiceComponent", "-arr", "PartComponent", web}, 0, []string{`,Name="web-ip"` + "\n", `,Name="web-srv"` + "\n"}},
		{"ri", []string{"ri", "-arc", "MGMTD_ParticipatingCS", hv1}, 0, []string{`testhost/root/cimv2:MGMTD_ParticipatingCS.Antecedent=`, `StateOfNode=4,RoleOfNode=2,Votes=1,IsDC=TRUE` + "\n"}},
		{"rin", []string{"rin", "-arc", "MGMTD_ServiceAffectsElement", hv1}, 0, []string{`MGMTD_ServiceAffectsElement.AffectedElement=`, `Name="fence-hv"` + "\n"}},
		{"cm start", []string{"cm", vip, "RequestStateChange.RequestedState=2"}, 0, []string{`,Name="vip-db" RequestStateChange: 4096, Job (reference): testhost/root/cimv2MGMTD_ConcreteJob.InstanceID="MGMTD:Job:task-1"` + "\n"}},
		{"gi job", []string{"gi", base + `root/cimv2:MGMTD_ConcreteJob.InstanceID="MGMTD:Job:task-1"`}, 0, []string{`Name="resource.start",`, `JobStatus="running",`, `JobState=4,`, `Action="resource.start",Target="resource/vip-db"`}},
		{"cm standby", []string{"cm", hv1, "RequestStateChange.RequestedState=6"}, 0, []string{`RequestStateChange: 4096, Job (reference): testhost/root/cimv2MGMTD_ConcreteJob.InstanceID="MGMTD:Job:task-2"`}},
		{"cm move", []string{"cm", vip, "MoveTo.DestinationNode=hv3"}, 0, []string{`MoveTo: 4096,`}},
		{"cm move unknown node", []string{"cm", vip, "MoveTo.DestinationNode=nowhere"}, 0, []string{`MoveTo: 5` + "\n"}},
		{"cm fence", []string{"cm", hv1, "Fence.Action=3"}, 0, []string{`Fence: 4096,`}},
		{"cm unsupported state", []string{"cm", hv1, "RequestStateChange.RequestedState=11"}, 0, []string{`RequestStateChange: 1` + "\n"}},
		{"ei jobs", []string{"ein", base + "root/cimv2:CIM_ConcreteJob"}, 0, []string{`InstanceID="MGMTD:Job:task-1"`, `InstanceID="MGMTD:Job:task-2"`, `InstanceID="MGMTD:Job:task-3"`, `InstanceID="MGMTD:Job:task-4"`}},
		{"interop profiles", []string{"ei", base + "interop:CIM_RegisteredProfile"}, 0, []string{`RegisteredName="Profile Registration"`, `RegisteredName="MGMTD Cluster"`}},
		{"interop object manager", []string{"ei", base + "interop:CIM_ObjectManager"}, 0, []string{`MGMTD_ObjectManager.SystemCreationClassName="CIM_ComputerSystem",SystemName="testhost",CreationClassName="MGMTD_ObjectManager",Name="mgmtd" `, `Description="mgmtd version 0.1.0"`}},
		{"not found", []string{"gi", base + `root/cimv2:MGMTD_ComputerSystem.CreationClassName="MGMTD_ComputerSystem",Name="nope"`}, 16, []string{"(6) CIM_ERR_NOT_FOUND"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wbemtest.CheckWbemcli(t, tc.code, tc.want, tc.args...) })
	}
	want := []string{
		"operator resource.start resource/vip-db",
		"operator node.standby node/hv1",
		"operator resource.move resource/vip-db node=hv3",
		"operator node.fence node/hv1 confirm",
	}
	if got := env.act.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("actions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
