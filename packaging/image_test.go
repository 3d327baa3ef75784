package packaging_test

import (
	"context"
	"crypto/tls"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mgmtd/internal/testutil"
)

// podman runs podman with vfs storage, which works here without overlay
// or a running container (the image is only built and exported).
func podman(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(command(t, nil, "podman", append([]string{"--storage-driver", "vfs"}, args...)...))
}

// TestImage builds the container image from the top-level Dockerfile
// (scripts/image.sh, FROM scratch, nothing pulled), exports its root
// filesystem and runs what the image would run from it - `mgmtd demo` as
// the image's non-root user - then asks the demo for data with its
// credentials. The binary must be static, the image must have no shell,
// and this build without cgo must refuse a configured PAM instead of
// ignoring it.
func TestImage(t *testing.T) {
	requireRoot(t)
	tag := fmt.Sprintf("localhost/mgmtd-test:%d", os.Getpid())
	if out := strings.TrimSpace(command(t, nil, "bash", "scripts/image.sh", tag)); out != tag {
		t.Fatalf("image.sh printed %q", out)
	}
	t.Cleanup(func() { exec.Command("podman", "--storage-driver", "vfs", "rmi", "-f", tag).Run() })

	var cfg struct {
		User       string
		Entrypoint []string
		Cmd        []string
	}
	if err := json.Unmarshal([]byte(podman(t, "image", "inspect", tag, "--format", "{{json .Config}}")), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.User == "" || strings.HasPrefix(cfg.User, "0") || strings.HasPrefix(cfg.User, "root") {
		t.Errorf("image user %q: want a non-root user", cfg.User)
	}

	root := t.TempDir()
	cid := podman(t, "create", tag)
	out := filepath.Join(t.TempDir(), "rootfs.tar")
	podman(t, "export", "-o", out, cid)
	podman(t, "rm", cid)
	command(t, nil, "tar", "-C", root, "-xf", out)

	for _, sh := range []string{"bin/sh", "usr/bin/sh", "bin/bash"} {
		if _, err := os.Lstat(filepath.Join(root, sh)); err == nil {
			t.Errorf("the image has a shell: /%s", sh)
		}
	}
	bin := filepath.Join(root, cfg.Entrypoint[0])
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked", cfg.Entrypoint[0])
		}
	}
	f.Close()
	for _, d := range []string{"var", "var/lib"} {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Errorf("/%s is not root's: %v", d, err)
		}
	}

	// The image's command, on a free loopback port, from the exported
	// root as the image's user (chroot runs the binary itself: no shell).
	addr := testutil.FreeAddr(t)
	argv := append(append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...), "--addr", addr, "--credentials", "/tmp/creds.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "chroot", append([]string{"--userspec=" + cfg.User, root}, argv...)...)
	cmd.Env = []string{}
	logs := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		<-exited
	}()
	credFile := filepath.Join(root, "tmp/creds.json")
	testutil.Eventually(t, 60*time.Second, func() bool {
		select {
		case err := <-exited:
			t.Fatalf("mgmtd demo from the image exited: %v\n%s", err, logs)
		default:
		}
		_, err := os.Stat(credFile)
		return err == nil && strings.Contains(logs.String(), "https://"+addr)
	}, "mgmtd demo from the image did not start:\n%s", logs)
	var creds map[string]struct {
		Token string `json:"bearer_token"`
	}
	b, err := os.ReadFile(credFile)
	if err != nil || json.Unmarshal(b, &creds) != nil || creds["viewer"].Token == "" {
		t.Fatalf("credentials %s: %v %s", credFile, err, b)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/api/v1/nodes", nil)
	req.Header.Set("Authorization", "Bearer "+creds["viewer"].Token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Cluster string `json:"cluster"`
		Data    []struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || body.Cluster != "demo" || len(body.Data) == 0 {
		t.Fatalf("GET /api/v1/nodes: %d %v %+v", resp.StatusCode, err, body)
	}

	// PAM is not in this build: configured, it stops the start with a
	// reason instead of leaving password logins silently dead.
	if err := os.WriteFile(filepath.Join(root, "tmp/pam.yaml"), []byte("auth: {pam: {enabled: true}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A CIB that exists (a missing one is refused first), captured with
	// Pacemaker's tools for package check.
	cib, err := os.ReadFile("../check/testdata/healthy.xml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp/cib.xml"), cib, 0o644); err != nil {
		t.Fatal(err)
	}
	pam := exec.Command("chroot", "--userspec="+cfg.User, root, cfg.Entrypoint[0], "serve", "--config", "/tmp/pam.yaml",
		"--addr", testutil.FreeAddr(t), "--state-dir", "/tmp/pam-state", "--cib", "/tmp/cib.xml")
	msg, err := pam.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "without cgo and has no PAM") {
		t.Errorf("serve with auth.pam from the static build: %v\n%s", err, msg)
	}
}
