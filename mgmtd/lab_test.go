package mgmtd

import (
	"context"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mgmtd/action"
	"mgmtd/auth"
	"mgmtd/internal/lab"
	"mgmtd/internal/testutil"
	"mgmtd/model"
)

// labDaemon is mgmtd running inside a lab node (this test binary in its
// daemon mode, see TestMain), reached over the lab network and its local
// socket.
type labDaemon struct {
	node, url, socket string
	tokens            map[auth.Role]string
	// stop ends the daemon (also done at the test's cleanup).
	stop func()
	// pid is the daemon's process (nsenter execs it).
	pid int
}

// startLabDaemon runs mgmtd serve inside node, on the node's address,
// with its state under the lab's directory, and waits until it has a
// picture of the cluster. extra is merged into its configuration.
func startLabDaemon(t testing.TB, l *lab.Lab, node string, extra ...map[string]any) *labDaemon {
	t.Helper()
	// Inside the node its state is /var/lib/mgmtd and its socket
	// /run/mgmtd.sock (the alert agent, running as hacluster, reaches it
	// there); from here both are under the node's directory.
	host := filepath.Join(lab.Dir, node, "fs")
	state := filepath.Join(host, "var/lib/mgmtd")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	d := &labDaemon{node: node, socket: filepath.Join(host, "run/mgmtd.sock"), tokens: map[auth.Role]string{}}
	tokens, err := auth.OpenTokenStore(filepath.Join(state, auth.TokenFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []auth.Role{auth.RoleOperator, auth.RoleAdmin, auth.RoleViewer} {
		s, _, err := tokens.Create(auth.TokenSpec{Name: string(r), Grants: []auth.Grant{{Role: r}}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		d.tokens[r] = s
	}
	cfgFile := filepath.Join(state, "mgmtd.json")
	cfg := map[string]any{"listen": net.JoinHostPort(lab.Addr(node), "8443"), "state_dir": "/var/lib/mgmtd",
		"socket": "/run/mgmtd.sock", "view": node, "actions": map[string]any{"timeout": "2m"}}
	for _, e := range extra {
		maps.Copy(cfg, e)
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile = "/var/lib/mgmtd/mgmtd.json"
	urlFile := filepath.Join(state, "url")
	_ = os.Remove(urlFile)
	stderr := &testutil.SyncBuffer{}
	cmd := l.Command(context.Background(), node, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MGMTD_TEST_DAEMON="+cfgFile, "MGMTD_TEST_URLFILE=/var/lib/mgmtd/url")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.pid = cmd.Process.Pid
	var once sync.Once
	d.stop = func() {
		once.Do(func() {
			// As systemctl stop would: SIGTERM, then SIGKILL if it hangs.
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() {
				_ = cmd.Wait()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("mgmtd on %s:\n%s", node, tail(stderr.String(), 4000))
			}
		})
	}
	t.Cleanup(d.stop)
	testutil.Eventually(t, 60*time.Second, func() bool {
		b, err := os.ReadFile(urlFile)
		d.url = string(b)
		return err == nil
	}, "mgmtd on %s is ready (%s)", node, stderr)
	testutil.Eventually(t, 60*time.Second, func() bool {
		var cl model.Cluster
		return d.get(t, "/api/v1/clusters/lab", &cl) == 200 && cl.DC != ""
	}, "mgmtd on %s sees the cluster and its DC", node)
	return d
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// get reads a model route's data as a viewer; it returns the status.
func (d *labDaemon) get(t testing.TB, path string, out any) int {
	t.Helper()
	code, _, body := call(t, "GET", d.url+path, map[string]string{"Authorization": "Bearer " + d.tokens[auth.RoleViewer]}, "")
	if code == 200 && out != nil {
		var env struct {
			View string          `json:"view"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.View != d.node {
			t.Fatalf("%s %s: view %q: %v", d.node, path, env.View, err)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatal(err)
		}
	}
	return code
}

// act runs an action through the daemon's REST API as role and waits for
// its task to end.
func (d *labDaemon) act(t *testing.T, role auth.Role, path, body string) action.Task {
	t.Helper()
	hdr := map[string]string{"Authorization": "Bearer " + d.tokens[role]}
	code, _, b := call(t, "POST", d.url+"/api/v1/"+path, hdr, body)
	var task action.Task
	if err := json.Unmarshal(b, &task); err != nil || (code != 200 && code != 202) {
		t.Fatalf("%s %s: %d %s", d.node, path, code, b)
	}
	testutil.Eventually(t, 3*time.Minute, func() bool {
		_, _, b := call(t, "GET", d.url+"/api/v1/tasks/"+task.ID, hdr, "")
		return json.Unmarshal(b, &task) == nil && task.State.Terminal()
	}, "task %s (%s) ends", task.ID, path)
	if task.State != action.StateSucceeded {
		t.Fatalf("%s %s: task %s %s: %s; %s", d.node, path, task.ID, task.State, task.Error, task.Result)
	}
	return task
}

// locate is where the cluster itself says a resource runs.
func locate(t testing.TB, l *lab.Lab, rsc string) string {
	t.Helper()
	out, _ := l.Try("node1", "crm_resource", "--locate", "--resource", rsc)
	return strings.TrimSpace(out)
}

// TestLabCluster runs mgmtd on every node of a real three-node cluster
// with fencing, and drives every action through mgmtd's REST API, reading
// the result back with Pacemaker's own tools; then fences a node through
// mgmtd, and cuts a node off to watch the partitions' views.
func TestLabCluster(t *testing.T) {
	l := lab.Up(t, 3)
	l.Exec("node1", "cibadmin", "--create", "-o", "resources", "--xml-text",
		`<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"><operations><op id="d1-mon" name="monitor" interval="10s"/></operations></primitive>`)
	daemons := map[string]*labDaemon{}
	for _, n := range l.Nodes {
		daemons[n] = startLabDaemon(t, l, n)
	}
	// Every node's mgmtd answers with its own view of the same cluster.
	for _, n := range l.Nodes {
		var nodes []model.Node
		if daemons[n].get(t, "/api/v1/nodes", &nodes) != 200 || len(nodes) != 3 {
			t.Fatalf("%s sees %d nodes", n, len(nodes))
		}
	}
	d2 := daemons["node2"]
	testutil.Eventually(t, 60*time.Second, func() bool { return strings.Contains(locate(t, l, "d1"), "running on") }, "d1 runs")

	d2.act(t, auth.RoleOperator, "resources/d1/actions/move", `{"node":"node3"}`)
	if got := locate(t, l, "d1"); !strings.Contains(got, "node3") {
		t.Fatalf("after move: %s", got)
	}
	d2.act(t, auth.RoleOperator, "resources/d1/actions/clear", `{}`)
	if out := l.Exec("node1", "cibadmin", "--query", "--scope", "constraints"); strings.Contains(out, "cli-prefer-d1") {
		t.Fatalf("move constraint left after clear:\n%s", out)
	}
	d2.act(t, auth.RoleOperator, "resources/d1/actions/ban", `{"node":"node3"}`)
	if got := locate(t, l, "d1"); strings.Contains(got, "node3") || !strings.Contains(got, "running on") {
		t.Fatalf("after ban from node3: %s", got)
	}
	d2.act(t, auth.RoleOperator, "resources/d1/actions/clear", `{}`)
	d2.act(t, auth.RoleOperator, "resources/d1/actions/stop", `{}`)
	if got := locate(t, l, "d1"); strings.Contains(got, "running on") {
		t.Fatalf("after stop: %s", got)
	}
	d2.act(t, auth.RoleOperator, "resources/d1/actions/start", `{}`)
	if got := locate(t, l, "d1"); !strings.Contains(got, "running on") {
		t.Fatalf("after start: %s", got)
	}
	d2.act(t, auth.RoleOperator, "resources/d1/actions/cleanup", `{}`)
	d2.act(t, auth.RoleOperator, "nodes/node2/actions/standby", `{}`)
	if out := l.Exec("node1", "crm_attribute", "--node", "node2", "--name", "standby", "--query"); !strings.Contains(out, "value=on") {
		t.Fatalf("standby: %s", out)
	}
	d2.act(t, auth.RoleOperator, "nodes/node2/actions/online", `{}`)
	if out := l.Exec("node1", "crm_attribute", "--node", "node2", "--name", "standby", "--query"); !strings.Contains(out, "value=off") {
		t.Fatalf("online: %s", out)
	}
	d2.act(t, auth.RoleAdmin, "nodes/node2/actions/maintenance-on", `{}`)
	if out := l.Exec("node1", "crm_attribute", "--node", "node2", "--name", "maintenance", "--query"); !strings.Contains(out, "value=on") && !strings.Contains(out, "value=true") {
		t.Fatalf("node maintenance: %s", out)
	}
	d2.act(t, auth.RoleAdmin, "nodes/node2/actions/maintenance-off", `{}`)
	d2.act(t, auth.RoleAdmin, "cluster/actions/maintenance-on", `{}`)
	if out := l.Exec("node1", "crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--query"); !strings.Contains(out, "value=true") {
		t.Fatalf("cluster maintenance: %s", out)
	}
	d2.act(t, auth.RoleAdmin, "cluster/actions/maintenance-off", `{}`)

	// Fencing through mgmtd: the lab's agent really fences node3, and
	// node1's mgmtd shows it in the fence table.
	d1 := daemons["node1"]
	d1.act(t, auth.RoleAdmin, "nodes/node3/actions/fence", `{"confirm":true}`)
	if _, fenced := l.Fenced("node3"); !fenced {
		t.Fatal("node3 was not fenced by the lab's agent")
	}
	testutil.Eventually(t, 60*time.Second, func() bool {
		var fs []model.FenceEvent
		d1.get(t, "/api/v1/fencing", &fs)
		for _, f := range fs {
			if f.Target == "node3" && f.Status == "success" {
				return true
			}
		}
		return false
	}, "node1's mgmtd lists the fencing of node3")

	// node3 comes back (the fence agent keeps it down until told).
	l.Start("node3")
	testutil.Eventually(t, 90*time.Second, func() bool {
		var n model.Node
		return d1.get(t, "/api/v1/nodes/node3", &n) == 200 && n.State == model.NodeOnline
	}, "node3 rejoined after its fencing")

	// A partition: with fencing off, node2 cut from the others loses
	// quorum in its own mgmtd's view (reached through its local socket),
	// while node1's mgmtd keeps quorum and sees node2 gone.
	l.Exec("node1", "crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", "--update", "false")
	l.Cut("node2")
	local := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d2.socket)
	}}, Timeout: 10 * time.Second}
	testutil.Eventually(t, 60*time.Second, func() bool {
		resp, b := testutil.HTTP(t, local, "GET", "http://mgmtd/api/v1/clusters/lab", "")
		var env struct {
			View string        `json:"view"`
			Data model.Cluster `json:"data"`
		}
		return resp.StatusCode == 200 && json.Unmarshal(b, &env) == nil && env.View == "node2" && !env.Data.Quorate
	}, "node2's mgmtd reports its partition without quorum")
	// ... and marks what it cannot know: d1 may run in the other partition.
	testutil.Eventually(t, 30*time.Second, func() bool {
		resp, b := testutil.HTTP(t, local, "GET", "http://mgmtd/api/v1/where?q=d1", "")
		return resp.StatusCode == 200 && strings.Contains(string(b), "not known from here")
	}, "node2's mgmtd marks d1's place as not known from its partition")
	testutil.Eventually(t, 60*time.Second, func() bool {
		var cl model.Cluster
		var n model.Node
		return d1.get(t, "/api/v1/clusters/lab", &cl) == 200 && cl.Quorate &&
			d1.get(t, "/api/v1/nodes/node2", &n) == 200 && n.State != model.NodeOnline
	}, "node1's mgmtd keeps quorum and sees node2 gone")
	l.Heal("node2")
	testutil.Eventually(t, 90*time.Second, func() bool {
		var cl model.Cluster
		return d1.get(t, "/api/v1/clusters/lab", &cl) == 200 && cl.Quorate && cl.TotalVotes == 3
	}, "node2 rejoined")
}
