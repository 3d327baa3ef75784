package virt

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"mgmtd/model"
)

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		want Target
		err  string
	}{
		{uri: "qemu:///system", want: Target{Driver: "qemu", Transport: "unix", Socket: defaultSocket, Remote: "qemu:///system"}},
		{uri: "qemu+unix:///system?socket=/run/x/sock", want: Target{Driver: "qemu", Transport: "unix", Socket: "/run/x/sock", Remote: "qemu:///system"}},
		{uri: "test+unix:///tmp/h/host-a.xml?socket=/tmp/h/sock", want: Target{Driver: "test", Transport: "unix", Socket: "/tmp/h/sock", Remote: "test:///tmp/h/host-a.xml"}},
		{uri: "qemu+ssh://root@hv1:2222/system?keyfile=/k", want: Target{Driver: "qemu", Transport: "ssh", Host: "hv1", Port: "2222", User: "root", Remote: "qemu:///system"}},
		{uri: "qemu+tls://hv2/system?pkipath=/p", want: Target{Driver: "qemu", Transport: "tls", Host: "hv2", Remote: "qemu:///system"}},
		{uri: "qemu://hv2/system", want: Target{Driver: "qemu", Transport: "tls", Host: "hv2", Remote: "qemu:///system"}},
		{uri: "qemu+tcp://10.0.0.1:1600/system?name=qemu:///session", want: Target{Driver: "qemu", Transport: "tcp", Host: "10.0.0.1", Port: "1600", Remote: "qemu:///session"}},
		{uri: "", err: "empty"},
		{uri: "qemu+libssh2://hv/system", err: "not supported"},
		{uri: "qemu+ext:///system", err: "not supported"},
		{uri: "qemu+ssh:///system", err: "needs a host"},
		{uri: "qemu+unix://hv/system", err: "takes no host"},
		{uri: "qemu+ssh://hv/system?proxy=magic", err: "unknown proxy"},
		{uri: "/var/run/libvirt/libvirt-sock", err: "want driver"},
		{uri: "qemu:system", err: "want driver"},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			got, err := ParseURI(tc.uri)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Target{}, "Query")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSSHArgs(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		want string
	}{
		{"qemu+ssh://hv1/system",
			`-T -e none -o BatchMode=yes -- hv1 sh -c 'if command -v virt-ssh-helper >/dev/null 2>&1; then exec virt-ssh-helper '\''qemu:///system'\''; else exec '\''nc'\'' -U '\''/var/run/libvirt/libvirt-sock'\''; fi'`},
		{"qemu+ssh://root@hv1:22/system?keyfile=/k&no_verify=1&socket=/s",
			`-T -e none -o BatchMode=yes -p 22 -l root -i /k -o StrictHostKeyChecking=no -- hv1 sh -c 'exec '\''nc'\'' -U '\''/s'\'''`},
		{"qemu+ssh://hv1/system?proxy=native", `-T -e none -o BatchMode=yes -- hv1 sh -c 'exec virt-ssh-helper '\''qemu:///system'\'''`},
		{"qemu+ssh://hv1/system?proxy=netcat&netcat=/bin/nc.openbsd", `-T -e none -o BatchMode=yes -- hv1 sh -c 'exec '\''/bin/nc.openbsd'\'' -U '\''/var/run/libvirt/libvirt-sock'\'''`},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			tg, err := ParseURI(tc.uri)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(sshArgs(tg), " "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestStateWords(t *testing.T) {
	for _, tc := range []struct {
		state, reason int32
		want          model.VMState
		word          string
	}{
		{stateRunning, 1, model.VMRunning, "booted"},
		{stateRunning, 2, model.VMRunning, "migrated"},
		{statePaused, 1, model.VMPaused, "user"},
		{statePaused, 14, model.VMPaused, "api error"},
		{stateShutoff, 2, model.VMShutoff, "destroyed"},
		{stateShutoff, 8, model.VMShutoff, "daemon"},
		{stateCrashed, 1, model.VMCrashed, "panicked"},
		{stateBlocked, 0, model.VMBlocked, "unknown"},
		{stateShutdown, 1, model.VMShutdown, "user"},
		{statePMSuspended, 0, model.VMPMSuspended, "unknown"},
		{stateNoState, 0, model.VMUnknown, "unknown"},
		{stateRunning, 99, model.VMRunning, "reason 99"},
		{42, 0, model.VMUnknown, "reason 0"},
	} {
		if got := vmState(tc.state); got != tc.want {
			t.Errorf("vmState(%d) = %q, want %q", tc.state, got, tc.want)
		}
		if got := reasonWord(tc.state, tc.reason); got != tc.word {
			t.Errorf("reasonWord(%d, %d) = %q, want %q", tc.state, tc.reason, got, tc.word)
		}
	}
	if eventWord(5) != "stopped" || eventWord(77) != "event 77" {
		t.Errorf("eventWord: %q %q", eventWord(5), eventWord(77))
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[uint64]string{0: "", 9000000: "9.0.0", 10010002: "10.10.2", 1000: "0.1.0"} {
		if got := formatLibVersion(v); got != want {
			t.Errorf("formatLibVersion(%d) = %q, want %q", v, got, want)
		}
	}
	u := libvirt.UUID{0x66, 0x95, 0xeb, 0x01, 0xf6, 0xa4, 0x83, 0x04, 0x79, 0xaa, 0x97, 0xf2, 0x50, 0x2e, 0x19, 0x3f}
	if got := formatUUID(u); got != "6695eb01-f6a4-8304-79aa-97f2502e193f" {
		t.Errorf("formatUUID = %q", got)
	}
	if got := redact("qemu+ssh://root:secret@hv1/system"); strings.Contains(got, "secret") {
		t.Errorf("redact left the password: %q", got)
	}
}

// TestCallTimeout: a go-libvirt call to a peer that never answers returns
// at the deadline and cuts the connection: nothing more is written, the
// socket stays open for the linger, then closes, and no goroutine is left.
func TestCallTimeout(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	peerDone := make(chan struct{})
	go func() { // a peer that reads and never answers
		defer close(peerDone)
		buf := make([]byte, 4096)
		for {
			if _, err := server.Read(buf); err != nil {
				return
			}
		}
	}()
	cc := newCutConn(client, 100*time.Millisecond)
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(cc))
	start := time.Now()
	err := call(context.Background(), 100*time.Millisecond, cc, "open", func() error {
		return l.ConnectToURI(libvirt.TestDefault)
	})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection closed") {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	t.Logf("call gave up after %.3f s", time.Since(start).Seconds())
	if _, err := cc.Write([]byte{0}); err == nil {
		t.Error("a cut connection still sends")
	}
	cc.release(context.Background(), l.Disconnected())
	select {
	case <-peerDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the cut connection was not closed after its linger")
	}
	checkNoLeaks(t)
}

func TestStatsByUUID(t *testing.T) {
	param := func(f string, v any) libvirt.TypedParam {
		return libvirt.TypedParam{Field: f, Value: libvirt.TypedParamValue{I: v}}
	}
	full, partial := libvirt.UUID{1}, libvirt.UUID{2}
	got := statsByUUID([]libvirt.DomainStatsRecord{
		{Dom: libvirt.Domain{Name: "a", UUID: full}, Params: []libvirt.TypedParam{
			param("state.state", int32(3)), param("state.reason", int32(1)), param("cpu.time", uint64(42)),
			param("balloon.current", uint64(1024)), param("vcpu.current", uint32(2)), param("vcpu.0.state", int32(1)),
			param("balloon.maximum", "not a number"),
		}},
		{Dom: libvirt.Domain{Name: "b", UUID: partial}, Params: []libvirt.TypedParam{param("state.state", int32(5)), param("state.reason", int32(-1))}},
	})
	want := map[libvirt.UUID]domainStats{
		full:    {state: 3, reason: 1, cpuTime: 42, balloon: 1024, vcpus: 2, hasState: true, hasCPU: true, hasMem: true, hasVCPUs: true},
		partial: {state: 5, hasState: true},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(domainStats{}, deviceStats{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !got[full].complete() || got[partial].complete() {
		t.Errorf("complete(): full %v, partial %v", got[full].complete(), got[partial].complete())
	}
}
