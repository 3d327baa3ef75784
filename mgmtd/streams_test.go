package mgmtd

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"mgmtd/auth"
	"mgmtd/rest"
)

// TestEventStreamsPerCallerAndRevocation (issue 13 item 10): one scoped
// viewer could hold every stream slot, and open streams kept delivering
// after the token was revoked. Now a caller holds at most its share, the
// admin still gets a stream, and a revoked token's streams end.
func TestEventStreamsPerCallerAndRevocation(t *testing.T) {
	d := startDemo(t)
	admin := map[string]string{"Authorization": "Bearer " + d.DemoCredentials[auth.RoleAdmin].BearerToken}
	code, _, body := call(t, "POST", d.URL+"/api/v1/tokens", admin, `{"name":"greedy","grants":[{"role":"viewer","scope":"node:hv2"}],"ttl":"1h"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var nt rest.NewToken
	if err := json.Unmarshal(body, &nt); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(secret string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", d.URL+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := insecure.Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var mine []*http.Response
	for range 40 {
		resp := open(nt.Secret)
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("stream %d: %d", len(mine)+1, resp.StatusCode)
			}
			break
		}
		mine = append(mine, resp)
	}
	if len(mine) == 0 || len(mine) >= 40 {
		t.Fatalf("the scoped viewer opened %d streams", len(mine))
	}
	if resp := open(d.DemoCredentials[auth.RoleAdmin].BearerToken); resp.StatusCode != http.StatusOK {
		t.Fatalf("admin's stream: %d", resp.StatusCode)
	} else {
		defer resp.Body.Close()
	}
	if code, _, body := call(t, "DELETE", d.URL+"/api/v1/tokens/"+nt.Token.ID, admin, ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	// Every stream of the revoked token ends, with an end event; the
	// heartbeat (15 s by default) is the longest it may take.
	for i, resp := range mine {
		done := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			var last string
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "event: ") {
					last = sc.Text()
				}
			}
			done <- last
		}()
		select {
		case last := <-done:
			if last != "event: end" {
				t.Errorf("stream %d ended after %q", i, last)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("stream %d still open after the token was revoked", i)
		}
		resp.Body.Close()
	}
}
