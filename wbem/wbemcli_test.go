package wbem

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mgmtd/wbem/wbemtest"
)

// TestWbemcli drives the handler with the real sblim-wbemcli over
// loopback HTTP: every command the issue names, checked line by line.
func TestWbemcli(t *testing.T) {
	env := newEnv(t, nil)
	ts := httptest.NewServer(env.srv)
	t.Cleanup(ts.Close)
	hostport := strings.TrimPrefix(ts.URL, "http://")
	base := "http://" + testUser + ":" + testPass + "@" + hostport + "/"
	node1 := base + `root/cimv2:PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node1"`
	res := base + `root/cimv2:PCMK_ClusterResource.SystemCreationClassName="PCMK_Cluster",SystemName="mycluster",CreationClassName="PCMK_ClusterResource",Name="web-ip"`
	tests := []struct {
		name string
		args []string
		code int
		want []string // lines (or line fragments) that must appear, in order
	}{
		{"ecn", []string{"ecn", base + "root/cimv2:CIM_ComputerSystem"}, 0, []string{"/root/cimv2:CIM_Cluster\n", "/root/cimv2:PCMK_Cluster\n", "/root/cimv2:PCMK_ClusterNode\n"}},
		{"ecn all", []string{"ecn", base + "root/cimv2"}, 0, []string{"/root/cimv2:CIM_ManagedElement\n", "/root/cimv2:PCMK_ClusterNode\n", "/root/cimv2:CIM_ElementConformsToProfile\n"}},
		{"ec", []string{"ec", base + "root/cimv2:CIM_ComputerSystem"}, 0, []string{"/root/cimv2:CIM_Cluster InstanceID=,", "ClusterState=,Types=\n", "/root/cimv2:PCMK_ClusterNode InstanceID=,Caption=,Description=,ElementName=,Name=,OperationalStatus=,EnabledState=,RequestedState=,CreationClassName=,Dedicated=,NodeID=,IsDC=,Note=\n"}},
		{"gc", []string{"gc", base + "root/cimv2:PCMK_ClusterNode"}, 0, []string{"/root/cimv2:PCMK_ClusterNode InstanceID=,Caption=,Description=,ElementName=,Name=,OperationalStatus=,EnabledState=,RequestedState=,CreationClassName=,Dedicated=,NodeID=,IsDC=,Note=\n"}},
		{"ei", []string{"ei", base + "root/cimv2:PCMK_ClusterNode"}, 0, []string{`/root/cimv2:PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node1" Name="node1",OperationalStatus=2,EnabledState=2,CreationClassName="PCMK_ClusterNode",NodeID=1,IsDC=TRUE,Note=""` + "\n", `/root/cimv2:PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node2" Name="node2",OperationalStatus=2,EnabledState=2,CreationClassName="PCMK_ClusterNode",NodeID=2,IsDC=FALSE,Note=""` + "\n"}},
		{"ei base class", []string{"ei", base + "root/cimv2:CIM_ManagedElement"}, 0, []string{`PCMK_Cluster.CreationClassName="PCMK_Cluster",Name="mycluster" ElementName="mycluster "prod" & <test>",`, `PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node1"`, `PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node2"`, `ResourceClass="ocf:heartbeat:IPaddr2"`, `PCMK_VirtualSystemMigrationService.SystemCreationClassName="PCMK_Cluster",SystemName="mycluster",CreationClassName="PCMK_VirtualSystemMigrationService",Name="migration"`}},
		{"ein", []string{"ein", base + "root/cimv2:CIM_ComputerSystem"}, 0, []string{`/root/cimv2:PCMK_Cluster.CreationClassName="PCMK_Cluster",Name="mycluster"` + "\n", `/root/cimv2:PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node1"` + "\n", `/root/cimv2:PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node2"` + "\n"}},
		{"gi", []string{"gi", node1}, 0, []string{` Name="node1",OperationalStatus=2,EnabledState=2,CreationClassName="PCMK_ClusterNode",NodeID=1,IsDC=TRUE,Note=""` + "\n"}},
		{"gi property list", []string{"gi", node1, "Name,EnabledState"}, 0, []string{`,Name="node1" Name="node1",EnabledState=2` + "\n"}},
		{"gi case-insensitive", []string{"gi", base + `ROOT/CIMv2:pcmk_clusternode.name="node1",CREATIONCLASSNAME="PCMK_ClusterNode"`}, 0, []string{` Name="node1",OperationalStatus=2,`}},
		{"gp", []string{"gp", node1, "NodeID"}, 0, []string{"1\n"}},
		{"ai", []string{"ai", node1}, 0, []string{`testhost/root/cimv2:PCMK_Cluster.CreationClassName="PCMK_Cluster",Name="mycluster" ElementName="mycluster "prod" & <test>",Name="mycluster",OperationalStatus=2,EnabledState=2,CreationClassName="PCMK_Cluster",ClusterState=2,Types=2,HasQuorum=TRUE,DCNode="node1"` + "\n"}},
		{"ai filtered", []string{"ai", "-ac", "PCMK_ParticipatingCS", "-arc", "PCMK_Cluster", "-ar", "Antecedent", "-arr", "Dependent", node1}, 0, []string{`testhost/root/cimv2:PCMK_Cluster.CreationClassName="PCMK_Cluster",Name="mycluster" ElementName=`}},
		{"ain", []string{"ain", res}, 0, []string{`testhost/root/cimv2:PCMK_Cluster.CreationClassName="PCMK_Cluster",Name="mycluster"` + "\n", `testhost/root/cimv2:PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node2"` + "\n"}},
		{"ri", []string{"ri", node1}, 0, []string{`testhost/root/cimv2:PCMK_ParticipatingCS.Antecedent=`, `,StateOfNode=4` + "\n"}},
		{"rin", []string{"rin", "-arc", "PCMK_ParticipatingCS", "-ar", "Antecedent", node1}, 0, []string{`testhost/root/cimv2:PCMK_ParticipatingCS.Antecedent=testhost/root/cimv2PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node1",Dependent=testhost/root/cimv2PCMK_Cluster.CreationClassName="PCMK_Cluster",Name="mycluster"` + "\n"}},
		{"cm", []string{"cm", node1, "RequestStateChange.RequestedState=3"}, 0, []string{`,Name="node1" RequestStateChange: 0` + "\n"}},
		{"gi after cm", []string{"gi", node1, "EnabledState"}, 0, []string{`,Name="node1" EnabledState=3` + "\n"}},
		{"cm job", []string{"cm", res, "RequestStateChange.RequestedState=11"}, 0, []string{`RequestStateChange: 4096, Job (reference): testhost/root/cimv2PCMK_ConcreteJob.InstanceID="job-1"` + "\n"}},
		{"cm noop", []string{"cm", node1, "Noop"}, 0, []string{`,Name="node1" Noop: 0` + "\n"}},
		{"gi not found", []string{"gi", base + `root/cimv2:PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node9"`}, 16, []string{`Cim: (6) CIM_ERR_NOT_FOUND: no instance root/cimv2:PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node9"`}},
		{"bad namespace", []string{"ein", base + "root/nothere:PCMK_ClusterNode"}, 16, []string{"Cim: (3) CIM_ERR_INVALID_NAMESPACE"}},
		{"no credentials", []string{"ein", "http://" + hostport + "/root/cimv2:PCMK_ClusterNode"}, 16, []string{"Username/password required"}},
		{"interop", []string{"ei", base + "interop:CIM_ObjectManager"}, 0, []string{`/interop:CIM_ObjectManager.SystemCreationClassName="CIM_ComputerSystem",SystemName="localhost",CreationClassName="CIM_ObjectManager",Name="mgmtd" `, `Description="mgmtd version 0.1.0",ElementName="mgmtd",`}},
		{"interop profile associators", []string{"ain", base + `interop:CIM_RegisteredProfile.InstanceID="PCMK:cluster-1.0.0"`}, 0, []string{`testhost/root/cimv2:PCMK_Cluster.CreationClassName="PCMK_Cluster",Name="mycluster"` + "\n"}},
	}
	if got := env.audit.list(); len(got) != 0 {
		t.Fatalf("audit before the test: %v", got)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wbemtest.CheckWbemcli(t, tt.code, tt.want, tt.args...) })
	}
	// The three method calls were audited with the caller and target.
	want := []string{
		`user RequestStateChange root/cimv2:PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node1"`,
		`user RequestStateChange root/cimv2:PCMK_ClusterResource.SystemCreationClassName="PCMK_Cluster",SystemName="mycluster",CreationClassName="PCMK_ClusterResource",Name="web-ip"`,
		`user Noop root/cimv2:PCMK_ClusterNode.CreationClassName="PCMK_ClusterNode",Name="node1"`,
	}
	if d := cmp.Diff(want, env.audit.list()); d != "" {
		t.Errorf("audit (-want +got):\n%s", d)
	}
}
