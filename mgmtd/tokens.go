package mgmtd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"mgmtd/auth"
	"mgmtd/rest"
)

func init() { extraCommands["token"] = cmdToken }

// cmdToken is `mgmtd token create|list|revoke`: API token management by an
// admin, through the daemon (the local socket as root, or --server with an
// admin's $MGMTD_TOKEN).
func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var q queryFlags
	q.daemonFlags(fs, 30*time.Second)
	name := fs.String("name", "", "create: what the token is for (required)")
	role := fs.String("role", "viewer", "create: viewer, operator, admin or auditor")
	scope := fs.String("scope", "*", `create: "*", "cluster:NAME", "node:NAME", "resource:ID", "vm:NAME" or "service:NAME"`)
	ttl := fs.String("ttl", "", "create: lifetime, e.g. 720h (default: the daemon's)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	c, base, ctx, cancel, err := q.connect(ctx, "token")
	if err != nil {
		return err
	}
	defer cancel()
	switch {
	case len(pos) == 1 && pos[0] == "list":
		var ts []auth.Token
		if err := apiCall(ctx, c, http.MethodGet, base+"/api/v1/tokens", nil, &ts); err != nil {
			return err
		}
		if q.output == "json" {
			return writeJSON(stdout, ts)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tGRANTS\tEXPIRES\tREVOKED")
		for _, t := range ts {
			grants := ""
			for i, g := range t.Grants {
				if i > 0 {
					grants += ","
				}
				grants += g.String()
			}
			revoked := "-"
			if !t.RevokedAt.IsZero() {
				revoked = t.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, grants, t.ExpiresAt.Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case len(pos) == 1 && pos[0] == "create":
		if *name == "" {
			return usageError{"token create: --name is required"}
		}
		sc, err := auth.ParseScope(*scope)
		if err != nil {
			return usageError{"--scope: " + err.Error()}
		}
		r := auth.Role(*role)
		if !r.Valid() {
			return usageError{"--role must be viewer, operator, admin or auditor"}
		}
		var nt rest.NewToken
		req := rest.NewTokenRequest{Name: *name, Grants: []auth.Grant{{Role: r, Scope: sc}}, TTL: *ttl}
		if err := apiCall(ctx, c, http.MethodPost, base+"/api/v1/tokens", req, &nt); err != nil {
			return err
		}
		if q.output == "json" {
			return writeJSON(stdout, nt)
		}
		fmt.Fprintf(stdout, "token %s (%s) expires %s\nsecret (shown once): %s\n", nt.Token.ID, nt.Token.Name, nt.Token.ExpiresAt.Format(time.RFC3339), nt.Secret)
		return nil
	case len(pos) == 2 && pos[0] == "revoke":
		var t auth.Token
		if err := apiCall(ctx, c, http.MethodDelete, base+"/api/v1/tokens/"+url.PathEscape(pos[1]), nil, &t); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s revoked\n", t.ID)
		return nil
	}
	return usageError{"usage: mgmtd token list | create --name N [--role R] [--scope S] [--ttl D] | revoke ID  (--server URL)"}
}
