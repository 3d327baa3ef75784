package auth

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// DemoCredential is one role's demo login.
type DemoCredential struct {
	BearerToken   string `json:"bearer_token"`
	BasicUser     string `json:"basic_user"`
	BasicPassword string `json:"basic_password"`
}

// DemoCredentials maps each role to its demo login; as JSON it is the
// --credentials file of `mgmtd demo`.
type DemoCredentials map[Role]DemoCredential

// CreateDemoCredentials creates, for every role, a global API token in
// tokens (valid for ttl) and a built-in user "demo-<role>" with a random
// password in users. Meant only for `mgmtd demo`.
func CreateDemoCredentials(tokens *TokenStore, users *UserStore, ttl time.Duration) (DemoCredentials, error) {
	out := DemoCredentials{}
	for _, r := range Roles() {
		if r == RoleSender { // a cluster's certificate at a hub, not a person
			continue
		}
		grants := []Grant{{Role: r}}
		secret, _, err := tokens.Create(TokenSpec{Name: "demo " + string(r), Grants: grants, TTL: ttl, CreatedBy: "demo"})
		if err != nil {
			return nil, fmt.Errorf("demo credentials: %w", err)
		}
		name, password := "demo-"+string(r), randomString(18)
		if err := users.Add(name, password, grants, nil); err != nil {
			return nil, fmt.Errorf("demo credentials: %w", err)
		}
		out[r] = DemoCredential{BearerToken: secret, BasicUser: name, BasicPassword: password}
	}
	return out, nil
}

// WriteFile writes the credentials as JSON to path (mode 0600).
func (d DemoCredentials) WriteFile(path string) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("write demo credentials: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// Print writes the credentials for people, one role per block.
func (d DemoCredentials) Print(w io.Writer) error {
	for _, r := range Roles() {
		c, ok := d[r]
		if !ok {
			continue
		}
		if _, err := fmt.Fprintf(w, "%-8s  bearer: %s\n          basic:  %s / %s\n", r, c.BearerToken, c.BasicUser, c.BasicPassword); err != nil {
			return err
		}
	}
	return nil
}
