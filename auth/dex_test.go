package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"golang.org/x/crypto/bcrypt"

	"mgmtd/internal/testutil"
)

// The Dex test provider: one process per test binary, started on first
// use on a free loopback port with memory storage, two static clients and
// static users whose password is dexPassword. Built by
// scripts/deps.d/auth.sh from tools/dex.

const (
	dexClientID     = "mgmtd-test"
	dexClientSecret = "mgmtd-test-secret"
	dexOtherClient  = "other-client"
	dexPassword     = "dex-test-password"
)

// dexUsers are the static users: e-mail -> groups (nil: no groups).
var dexUsers = []struct {
	email  string
	groups []string
}{
	{"admin@example.com", []string{"cluster-admins"}},
	{"operator@example.com", []string{"cluster-operators"}},
	{"viewer@example.com", []string{"cluster-viewers"}},
	{"auditor@example.com", []string{"auditors"}},
	{"c1op@example.com", []string{"c1-operators"}},
	{"nogroups@example.com", nil},
}

type dexProvider struct {
	issuer       string
	callback     net.Listener // where the login test's mgmtd listens (registered redirect URI)
	callbackAddr string
	redirect     string
	cmd          *exec.Cmd
	log          *testutil.SyncBuffer
	dir          string
	exited       chan struct{}
}

var (
	dexOnce sync.Once
	dexInst *dexProvider
	dexErr  error
)

// dexBinary returns the Dex binary built by scripts/deps.d/auth.sh.
func dexBinary() string {
	if p := os.Getenv("MGMTD_DEX_BIN"); p != "" {
		return p
	}
	dir := os.Getenv("MGMTD_DEX_DIR")
	if dir == "" {
		dir = "/root/.cache/mgmtd/dex"
	}
	return filepath.Join(dir, "dex")
}

// startDex returns the shared Dex, starting it on first use. Tests fail
// (never skip) if Dex is missing.
func startDex(t *testing.T) *dexProvider {
	t.Helper()
	dexOnce.Do(func() {
		// launchDex may end this goroutine with t.Fatal; then later
		// tests see this error instead of a nil provider.
		dexErr = errors.New("the Dex start failed in an earlier test")
		dexInst, dexErr = launchDex(t)
	})
	if dexErr != nil {
		t.Fatalf("Dex test provider: %v", dexErr)
	}
	return dexInst
}

func stopDex() {
	if dexInst == nil {
		return
	}
	_ = dexInst.cmd.Process.Kill()
	<-dexInst.exited
	if dexInst.callback != nil {
		_ = dexInst.callback.Close()
	}
	_ = os.RemoveAll(dexInst.dir)
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopDex()
	os.Exit(code)
}

var dexConfig = template.Must(template.New("").Parse(`issuer: {{.Issuer}}
storage:
  type: memory
web:
  http: {{.Addr}}
logger:
  level: info
  format: text
expiry:
  idTokens: 1h
signer:
  type: local
  config:
    keysRotationPeriod: 6h
oauth2:
  passwordConnector: local
  skipApprovalScreen: true
  responseTypes: ["code"]
staticClients:
  - id: {{.ClientID}}
    name: mgmtd test client
    secret: {{.ClientSecret}}
    redirectURIs: ["{{.Redirect}}"]
  - id: {{.OtherClient}}
    name: another relying party
    secret: other-secret
    redirectURIs: ["https://127.0.0.1:1/cb"]
enablePasswordDB: true
staticPasswords:
{{- range $i, $u := .Users}}
  - email: "{{$u.Email}}"
    hash: "{{$.Hash}}"
    username: "{{$u.Name}}"
    userID: "00000000-0000-4000-8000-00000000000{{$i}}"
{{- if $u.Groups}}
    groups: [{{range $j, $g := $u.Groups}}{{if $j}}, {{end}}"{{$g}}"{{end}}]
{{- end}}
{{- end}}
`))

func launchDex(t testing.TB) (*dexProvider, error) {
	bin := dexBinary()
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no Dex binary at %s (%v): run scripts/deps.d/auth.sh, which builds it from tools/dex", bin, err)
	}
	dir, err := os.MkdirTemp("", "mgmtd-dex-")
	if err != nil {
		return nil, err
	}
	cb, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := testutil.FreePort(t, "tcp")
	hash, err := bcrypt.GenerateFromPassword([]byte(dexPassword), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	d := &dexProvider{
		issuer:       fmt.Sprintf("http://127.0.0.1:%d/dex", port),
		callback:     cb,
		callbackAddr: cb.Addr().String(),
		redirect:     fmt.Sprintf("https://%s/auth/callback", cb.Addr()),
		log:          &testutil.SyncBuffer{},
		dir:          dir,
	}
	type user struct {
		Email, Name string
		Groups      []string
	}
	var users []user
	for _, u := range dexUsers {
		users = append(users, user{u.email, strings.Split(u.email, "@")[0], u.groups})
	}
	var cfg bytes.Buffer
	if err := dexConfig.Execute(&cfg, map[string]any{
		"Issuer": d.issuer, "Addr": fmt.Sprintf("127.0.0.1:%d", port), "ClientID": dexClientID,
		"ClientSecret": dexClientSecret, "Redirect": d.redirect, "OtherClient": dexOtherClient,
		"Users": users, "Hash": string(hash),
	}); err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(dir, "dex.yaml")
	if err := os.WriteFile(cfgFile, cfg.Bytes(), 0o600); err != nil {
		return nil, err
	}
	d.cmd = exec.Command(bin, "serve", cfgFile)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start Dex: %w", err)
	}
	exited := make(chan struct{})
	d.exited = exited
	go func() { _ = d.cmd.Wait(); close(exited) }()
	dexInst = d // so that TestMain stops it even if it never gets ready
	gone := false
	serving := func() bool {
		select {
		case <-exited:
			gone = true
			return true
		default:
		}
		resp, err := http.Get(d.issuer + "/.well-known/openid-configuration")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	if !testutil.Poll(60*time.Second, serving) {
		return nil, fmt.Errorf("Dex did not serve discovery within 60 s:\n%s", d.log.String())
	}
	if gone {
		return nil, fmt.Errorf("Dex exited during start:\n%s", d.log.String())
	}
	return d, nil
}

// passwordGrant gets tokens from Dex with the resource-owner password
// grant and returns the ID token.
func (d *dexProvider) passwordGrant(t *testing.T, client, secret, user, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {user}, "password": {dexPassword}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, d.issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("password grant for %s: %s: %s", user, resp.Status, body)
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.IDToken == "" {
		t.Fatalf("password grant: no id_token in %s", body)
	}
	return tok.IDToken
}

const fullScope = "openid email profile groups"

func (d *dexProvider) idToken(t *testing.T, user string) string {
	return d.passwordGrant(t, dexClientID, dexClientSecret, user, fullScope)
}

func (d *dexProvider) oidcConfig() OIDCConfig {
	return OIDCConfig{Issuer: d.issuer, ClientID: dexClientID, ClientSecret: dexClientSecret, RedirectURL: d.redirect}
}

// dexBindings bind the Dex groups to roles.
func dexBindings() []Binding {
	return []Binding{
		{Role: RoleAdmin, OIDCGroups: []string{"cluster-admins"}},
		{Role: RoleOperator, OIDCGroups: []string{"cluster-operators"}},
		{Role: RoleViewer, OIDCGroups: []string{"cluster-viewers"}},
		{Role: RoleAuditor, OIDCGroups: []string{"auditors"}},
		{Role: RoleOperator, Scope: Scope{Kind: KindCluster, Name: "c1"}, OIDCGroups: []string{"c1-operators"}},
	}
}

// callbackListener returns a listener on the registered redirect URI's
// address: the one reserved at start, or a new one on the same port.
func (d *dexProvider) callbackListener(t *testing.T) net.Listener {
	t.Helper()
	if l := d.callback; l != nil {
		d.callback = nil
		return l
	}
	l, err := net.Listen("tcp", d.callbackAddr)
	if err != nil {
		t.Fatalf("listen on the registered redirect address: %v", err)
	}
	return l
}
