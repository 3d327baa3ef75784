package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"mgmtd/rest"
	"mgmtd/source/pacemaker"
	"mgmtd/toolexec"
)

// AlertAgentName is the name under which the mgmtd binary runs as
// Pacemaker's alert agent (a link to it): Pacemaker runs an alert agent
// without arguments.
const AlertAgentName = "mgmtd-alert"

// alertTimeout bounds the agent: it must never hold the cluster up.
const alertTimeout = 2 * time.Second

func alertCommand() *command {
	return &command{name: "alert", synopsis: "notify | install [--socket PATH] [--agent PATH] | uninstall",
		summary: "Pacemaker's alert agent: changes reach the daemon in milliseconds", words: []string{"notify", "install", "uninstall"},
		detail: `install links the agent (` + AlertAgentName + ` -> this binary) and adds an alert to the
CIB (cibadmin) whose recipient is the daemon's local socket; Pacemaker then
runs the agent, as hacluster with the CRM_alert_* environment, for every
node, fencing and resource event. notify is what the agent does: it hands
the alert to the daemon through the socket, once, within 2 s, and exits -
no retries that could pile up; the daemon refreshes at once, and its
periodic version check stays the safety net.`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			socket := fs.String("socket", "/var/lib/mgmtd/mgmtd.sock", "install: the daemon's local socket")
			agent := fs.String("agent", "/usr/local/sbin/"+AlertAgentName, "install: where to link the agent")
			return func(ctx context.Context, pos []string) error {
				switch {
				case len(pos) == 1 && pos[0] == "notify":
					return alertNotify(ctx)
				case len(pos) == 1 && pos[0] == "install":
					return alertInstall(ctx, s, *socket, *agent)
				case len(pos) == 1 && pos[0] == "uninstall":
					return cibadmin(ctx, "--delete", "--xml-text", `<alert id="mgmtd"/>`)
				}
				return usagef("usage: mgmtd alert notify | install [--socket PATH] [--agent PATH] | uninstall")
			}
		}}
}

// alertNotify posts the CRM_alert_* environment to the daemon's socket
// (CRM_alert_recipient).
func alertNotify(ctx context.Context) error {
	sock := os.Getenv("CRM_alert_recipient")
	if sock == "" {
		return usagef("alert notify: no CRM_alert_recipient (run by Pacemaker as an alert agent)")
	}
	a := rest.Alert{Kind: os.Getenv("CRM_alert_kind"), Node: os.Getenv("CRM_alert_node"), Resource: os.Getenv("CRM_alert_rsc"),
		Task: os.Getenv("CRM_alert_task"), Desc: os.Getenv("CRM_alert_desc"), Timestamp: os.Getenv("CRM_alert_timestamp")}
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, alertTimeout)
	defer cancel()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://mgmtd/api/v1/alert", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("alert to %s: %w", sock, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("alert to %s: %s", sock, resp.Status)
	}
	return nil
}

// alertInstall links the agent to this binary and adds (or replaces) the
// alert in the CIB.
func alertInstall(ctx context.Context, s *streams, socket, agent string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(agent), 0o755); err != nil {
		return err
	}
	_ = os.Remove(agent)
	if err := os.Symlink(self, agent); err != nil {
		return fmt.Errorf("link the alert agent: %w", err)
	}
	xml := fmt.Sprintf(`<alert id="mgmtd" path="%s"><meta_attributes id="mgmtd-meta"><nvpair id="mgmtd-timeout" name="timeout" value="5s"/></meta_attributes><recipient id="mgmtd-socket" value="%s"/></alert>`,
		html.EscapeString(agent), html.EscapeString(socket))
	_ = cibadmin(ctx, "--delete", "--xml-text", `<alert id="mgmtd"/>`)
	// Into the alerts section; a CIB without one gets it.
	if err := cibadmin(ctx, "--create", "--scope", "alerts", "--xml-text", xml); err != nil {
		if err := cibadmin(ctx, "--create", "--scope", "configuration", "--xml-text", "<alerts>"+xml+"</alerts>"); err != nil {
			return err
		}
	}
	fmt.Fprintf(s.out, "alert agent %s -> %s installed; recipient %s\n", agent, self, socket)
	return nil
}

// WatchAgent is what this binary does when the Pacemaker source's
// watcher (crm_mon -E) runs it as its external agent: it prints the
// operation's line and exits (pacemaker.WatchAgent); ok is false when
// this process is not such an agent.
func WatchAgent(stdout io.Writer) (code int, ok bool) {
	if !pacemaker.IsWatchAgent(os.Getenv) {
		return 0, false
	}
	if pacemaker.WatchAgent(stdout, os.Getenv) != nil {
		return 1, true
	}
	return 0, true
}

// cibadmin runs Pacemaker's cibadmin as every cluster tool runs
// (toolexec: timeout, bounded output, its stderr in the error).
func cibadmin(ctx context.Context, args ...string) error {
	_, err := toolexec.Runner{}.Run(ctx, nil, "cibadmin", args...)
	return err
}
